"""The manifest file: one CSV row per clip (audio path, transcript, header facts).

Format (UTF-8, ``\\n`` line ends, RFC 4180 quoting, rows sorted by ``id``)::

    id,audio,text,duration,sample_rate,channels,speaker,language
    alice/001,clips/alice/001.wav,Hello there.,2.500,44100,1,alice,en

``audio`` is relative to the manifest's folder (so a dataset folder can be moved or copied
to another machine as a whole); ``duration`` is in seconds with millisecond precision;
``speaker`` and ``language`` are empty when unknown. :func:`read_manifest` also accepts the
minimal hand-written form with only an audio column (``audio``, ``path``, ``file`` or
``file_name``) and a text column (``text``, ``sentence`` or ``transcript``); the missing
facts are then read from the audio headers. Other columns are ignored, so a CSV kept with
the audio (``../shared/audio/real/manifest.csv``) reads as is.

This module is the only reader and writer of manifests.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from whisper_tune.errors import AudioError, DataError
from whisper_tune.fileio import atomic_write_text

log = logging.getLogger(__name__)

#: Columns written by :func:`write_manifest`, in order.
COLUMNS: tuple[str, ...] = ("id", "audio", "text", "duration", "sample_rate", "channels", "speaker", "language")
#: Header names accepted for the audio path and the transcript in a hand-written manifest.
AUDIO_COLUMNS: tuple[str, ...] = ("audio", "path", "file", "file_name")
TEXT_COLUMNS: tuple[str, ...] = ("text", "sentence", "transcript")


@dataclass(frozen=True)
class ManifestRow:
    """One clip of a manifest.

    ``audio`` is absolute once read from a manifest; ``duration`` (seconds), ``sample_rate``
    and ``channels`` are what the audio file's header says (before resampling to 16 kHz).
    """

    id: str
    audio: Path
    text: str
    duration: float
    sample_rate: int
    channels: int
    speaker: str | None = None
    language: str | None = None


def write_manifest(rows: Iterable[ManifestRow], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` to ``path`` atomically; returns the path written.

    Rows are sorted by ``id`` so the same clips always give the same bytes; audio paths are
    written relative to the manifest's folder with ``/`` separators.
    """
    target = Path(path)
    base = _absolute(target).parent
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.id):
        writer.writerow(
            [
                row.id,
                _relative_posix(Path(row.audio), base),
                row.text,
                f"{row.duration:.3f}",
                str(int(row.sample_rate)),
                str(int(row.channels)),
                row.speaker or "",
                row.language or "",
            ]
        )
    atomic_write_text(target, buffer.getvalue())
    return target


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestRow]:
    """Read a manifest written by :func:`write_manifest`, or a minimal ``audio,text`` CSV.

    Audio paths come back absolute (resolved against the manifest's folder). Raises
    :class:`DataError` naming the file, line and column of the first problem.
    """
    file = Path(path)
    header, records = _read_table(file)
    audio_col = _pick(header, AUDIO_COLUMNS)
    text_col = _pick(header, TEXT_COLUMNS)
    if audio_col is None or text_col is None:
        missing = (
            "audio column (" + "|".join(AUDIO_COLUMNS) + ")"
            if audio_col is None
            else "text column (" + "|".join(TEXT_COLUMNS) + ")"
        )
        raise DataError(
            f"{file}: line 1: the header {header} has no {missing}; a manifest needs at least "
            "`audio,text` (write one with `whisper-tune manifest build`)"
        )
    full = all(name in header for name in ("duration", "sample_rate", "channels"))
    base = _absolute(file).parent
    rows: list[ManifestRow] = []
    for line_no, record in records:
        rows.append(_parse_row(file, line_no, record, audio_col, text_col, base, full))
    return rows


def _parse_row(
    file: Path,
    line_no: int,
    record: dict[str, str],
    audio_col: str,
    text_col: str,
    base: Path,
    full: bool,
) -> ManifestRow:
    where = f"{file}: line {line_no}"
    audio_text = record[audio_col].strip()
    if not audio_text:
        raise DataError(f"{where}: column {audio_col!r} is empty; expected the path of an audio file")
    audio = Path(os.path.normpath(base / audio_text))
    text = record[text_col].strip()
    if not text:
        raise DataError(f"{where}: column {text_col!r} (the transcript) is empty; fill it or remove the row")
    clip_id = (record.get("id") or "").strip() or _default_id(audio_text)
    if full:
        duration = _number(where, "duration", record["duration"], float)
        sample_rate = _number(where, "sample_rate", record["sample_rate"], int)
        channels = _number(where, "channels", record["channels"], int)
    else:
        # The minimal form: the header of the audio file supplies the facts.
        from whisper_tune.audio import audio_info

        try:
            info = audio_info(audio)
        except AudioError as exc:
            raise DataError(f"{where}: column {audio_col!r}: {exc}") from exc
        duration, sample_rate, channels = info.duration, info.sample_rate, info.channels
    return ManifestRow(
        id=clip_id,
        audio=audio,
        text=text,
        duration=float(duration),
        sample_rate=int(sample_rate),
        channels=int(channels),
        speaker=(record.get("speaker") or "").strip() or None,
        language=(record.get("language") or "").strip() or None,
    )


def _read_table(file: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """Parse a manifest CSV into (header, [(line number, record)])."""
    if not file.exists():
        raise DataError(f"{file}: no such manifest; build one with `whisper-tune manifest build`")
    if not file.is_file():
        raise DataError(f"{file}: is not a file; expected a manifest CSV")
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = file.read_bytes()[: exc.start].count(b"\n") + 1
        raise DataError(f"{file}: line {line}: not UTF-8 text (byte {exc.start}); save the manifest as UTF-8") from exc
    except OSError as exc:
        raise DataError(f"{file}: cannot read the manifest ({exc.strerror})") from exc
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{file}: the manifest is empty; expected a header line such as `audio,text`") from None
    except csv.Error as exc:
        raise DataError(f"{file}: line 1: not valid CSV ({exc})") from exc
    records: list[tuple[int, dict[str, str]]] = []
    while True:
        line_no = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise DataError(f"{file}: line {line_no}: not valid CSV ({exc})") from exc
        if not values or all(not v.strip() for v in values):
            continue  # blank line
        if len(values) != len(header):
            raise DataError(
                f"{file}: line {line_no}: {len(values)} fields, but the header has {len(header)}; "
                "quote fields that contain commas"
            )
        records.append((line_no, dict(zip(header, values))))
    return header, records


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in header), None)


def _number(where: str, column: str, value: str, kind: type) -> float | int:
    try:
        number = kind(value.strip())
    except ValueError:
        raise DataError(f"{where}: column {column!r}: {value!r} is not a {kind.__name__}") from None
    if number < 0 or (kind is int and number == 0):
        raise DataError(f"{where}: column {column!r}: {value!r} must be positive")
    return number


def _default_id(audio_text: str) -> str:
    """The id of a row of a hand-written manifest: its audio path without the suffix."""
    posix = audio_text.replace("\\", "/")
    stem, dot, suffix = posix.rpartition(".")
    return stem if dot and "/" not in suffix else posix


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _relative_posix(audio: Path, base: Path) -> str:
    """``audio`` relative to ``base`` (may climb with ``..``), with ``/`` separators."""
    absolute = _absolute(audio)
    try:
        relative = os.path.relpath(absolute, base)
    except ValueError:  # different drive on Windows: keep it absolute
        return absolute.as_posix()
    return Path(relative).as_posix()
