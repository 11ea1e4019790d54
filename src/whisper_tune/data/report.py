"""The validation report: one row per problem, kept beside the manifest as JSON.

Nothing is dropped from a manifest without a row here naming the file and the reason.
This module is the only reader and writer of ``*.report.json`` and ``*.validation.json``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from whisper_tune.errors import DataError
from whisper_tune.fileio import atomic_write_json

REPORT_VERSION = 1

#: Every reason a clip can be left out, with the sentence shown to the user.
REASONS: dict[str, str] = {
    "missing_audio": "the audio file does not exist",
    "unreadable_audio": "the audio file cannot be decoded",
    "empty_audio": "the audio file holds no samples",
    "missing_transcript": "no transcript for this audio",
    "empty_transcript": "the transcript is empty",
    "transcript_not_utf8": "the transcript is not UTF-8 text",
    "too_long": "the clip is longer than the maximum duration",
    "too_short": "the clip is shorter than the minimum duration",
    "silent": "the audio is silent",
    "duplicate_audio": "the same audio content is already in the manifest",
    "duplicate_id": "the id is already in the manifest",
    "path_escapes_root": "the audio path points outside the dataset root",
    "transcript_without_audio": "a transcript with no audio file",
    "bad_row": "a row of the source table cannot be parsed",
}


@dataclass(frozen=True)
class Problem:
    """One reported problem: ``file`` is the audio or transcript (or ``table:line``)."""

    file: str
    reason: str
    detail: str
    id: str | None = None

    def __post_init__(self) -> None:
        if self.reason not in REASONS:  # a bug of ours, not the user's input
            raise ValueError(f"unknown problem reason {self.reason!r}")


@dataclass
class Report:
    """The outcome of a build or a validation."""

    manifest: str
    checked: int = 0
    kept: int = 0
    problems: list[Problem] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        """Problems per reason, in the order of :data:`REASONS`."""
        found = Counter(p.reason for p in self.problems)
        return {reason: found[reason] for reason in REASONS if found[reason]}

    def sorted_problems(self) -> list[Problem]:
        order = list(REASONS)
        return sorted(self.problems, key=lambda p: (p.file, order.index(p.reason), p.detail))

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "manifest": self.manifest,
            "checked": self.checked,
            "kept": self.kept,
            "left_out": len(self.problems),
            "counts": self.counts,
            "splits": dict(self.splits),
            "settings": dict(self.settings),
            "problems": [asdict(p) for p in self.sorted_problems()],
        }


def report_path(manifest: str | os.PathLike[str], kind: str = "report") -> Path:
    """``data/train.csv`` -> ``data/train.report.json`` (a build's report) or, with
    ``kind="validation"``, ``data/train.validation.json`` (so validating never overwrites
    the record of what the build left out)."""
    path = Path(manifest)
    return path.with_name(f"{path.stem}.{kind}.json")


def write_report(report: Report, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    atomic_write_json(target, report.to_dict())
    return target


def read_report(path: str | os.PathLike[str]) -> Report:
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
        problems = [Problem(**p) for p in data["problems"]]
        return Report(
            manifest=data["manifest"],
            checked=int(data["checked"]),
            kept=int(data["kept"]),
            problems=problems,
            splits={str(k): int(v) for k, v in data.get("splits", {}).items()},
            settings=dict(data.get("settings", {})),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{file}: not a whisper-tune validation report ({exc})") from exc


def report_table(report: Report, limit: int = 50) -> Any:
    """A rich Table of the problems (the CLI prints it; the library never does)."""
    from rich.table import Table

    table = Table(title=f"{len(report.problems)} problem(s) in {report.checked} clip(s)", show_lines=False)
    table.add_column("file", overflow="fold")
    table.add_column("reason")
    table.add_column("detail", overflow="fold")
    problems = report.sorted_problems()
    for problem in problems[:limit]:
        table.add_row(problem.file, problem.reason, problem.detail)
    if len(problems) > limit:
        table.add_row(f"... {len(problems) - limit} more", "", "see the JSON report")
    return table
