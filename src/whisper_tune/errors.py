"""Typed errors raised by the library.

Library code raises these; only the CLI turns them into one-line messages and exit codes.
Every message should name the file, field or value at fault, what was expected, and how to
fix it, because it is shown to the user as is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the report type only; errors.py imports nothing of the package at run time
    from whisper_tune.data.report import Report


class WhisperTuneError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""

    #: Process exit code the CLI uses for this error.
    exit_code: int = 2


class ModelSourceError(WhisperTuneError):
    """A model spec that cannot be resolved to a loadable Whisper model."""


class AudioError(WhisperTuneError):
    """An audio file that is missing, unreadable or unusable."""


class FormatError(WhisperTuneError):
    """A file that does not follow its binary format (GGML, CTranslate2, ...)."""


class ExportError(WhisperTuneError):
    """A model that cannot be exported faithfully to whisper.cpp."""


class ConfigError(WhisperTuneError):
    """An invalid configuration key or value."""


class DataError(WhisperTuneError):
    """A dataset, manifest or transcript problem."""


class StrictDataError(DataError):
    """``strict`` was set and the data has problems; ``report`` lists every one."""

    def __init__(self, message: str, report: Report) -> None:
        super().__init__(message)
        self.report = report


class WhisperCppError(WhisperTuneError):
    """whisper.cpp failed to load or run a model (crash, abort, hang, bad output)."""


class VerificationFailed(WhisperTuneError):
    """A verification ran to completion and its verdict is 'fail'."""

    exit_code = 1


class TrainingError(WhisperTuneError):
    """Training or ACFT cannot start or continue."""


class TakeRejected(DataError):
    """A recorded take that cannot be used (silent, clipped, too short or long, not audio)."""


class CloudError(WhisperTuneError):
    """A cloud run or a Hub push cannot start or continue: no token, no secret, no network,
    or the service refused. Messages never contain a token."""


class MissingDependencyError(WhisperTuneError):
    """An optional extra that a command needs is not installed; the message names the pip command."""


class OutputError(WhisperTuneError):
    """An output that cannot be written: no space left, a file-size limit, no permission, ..."""
