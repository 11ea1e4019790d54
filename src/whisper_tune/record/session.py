"""A recording session: the prompts, which of them are recorded, and saving takes.

The page asks for :meth:`RecordingSession.state` and posts takes to
:meth:`RecordingSession.save_take`; nothing here knows about HTTP.
"""

from __future__ import annotations

import shlex
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_tune.errors import DataError
from whisper_tune.record.prompts import (
    TRAIN,
    VALIDATION,
    build_prompts,
    load_templates,
    read_sentences,
    read_terms,
)
from whisper_tune.record.storage import PlannedPrompt, RecordingFolder
from whisper_tune.record.takes import DEFAULT_LIMITS, TakeLimits, prepare_take


@dataclass(frozen=True)
class SessionOptions:
    """What ``whisper-tune record`` was asked for; every field is one of its options."""

    out: Path
    terms: Path | None = None
    sentences: Path | None = None
    voice: str = "me"
    per_term: int = 3
    templates: Path | None = None


@dataclass(frozen=True)
class SessionSummary:
    """How many prompts have a take, per split, once the session ends."""

    out: Path
    recorded: dict[str, int]
    total: int

    @property
    def recorded_total(self) -> int:
        return sum(self.recorded.values())


class RecordingSession:
    """The prompts of one voice in one folder; :meth:`save_take` is safe from several threads."""

    def __init__(
        self, folder: RecordingFolder, planned: list[PlannedPrompt], limits: TakeLimits = DEFAULT_LIMITS
    ) -> None:
        self.folder = folder
        self.limits = limits
        self._planned = {p.id: p for p in planned}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, options: SessionOptions) -> RecordingSession:
        """Read the inputs, check the folder is writable, and mark what is already recorded."""
        if options.terms is None and options.sentences is None:
            raise DataError("nothing to record: give `terms` (a file, one term per line) and/or `sentences` (a file)")
        terms = read_terms(options.terms) if options.terms is not None else []
        sentences = read_sentences(options.sentences) if options.sentences is not None else []
        prompts = build_prompts(terms, load_templates(options.templates), options.per_term, sentences)
        folder = RecordingFolder(options.out, options.voice)
        return cls(folder, folder.plan(prompts))

    @property
    def planned(self) -> list[PlannedPrompt]:
        with self._lock:
            return list(self._planned.values())

    def find(self, prompt_id: str) -> PlannedPrompt:
        try:
            return self._planned[prompt_id]
        except KeyError:
            raise DataError(f"no prompt {prompt_id!r} in this session; reload the page") from None

    def state(self) -> dict[str, Any]:
        """Everything the page shows: the prompts in order, what is recorded, the take limits."""
        return {
            "voice": self.folder.voice,
            "out": str(self.folder.root),
            "limits": self.limits.to_dict(),
            "prompts": [_prompt_state(p) for p in self.planned],
        }

    def save_take(self, prompt_id: str, data: bytes) -> dict[str, Any]:
        """Check and store a take; raises :class:`~whisper_tune.errors.TakeRejected` when unusable."""
        planned = self.find(prompt_id)
        samples, check = prepare_take(data, self.limits)
        saved = self.folder.save(planned, samples)
        with self._lock:
            self._planned[prompt_id] = saved
        return {"prompt": _prompt_state(saved), "duration": round(check.duration, 3), "warnings": check.warnings}

    def take_file(self, prompt_id: str) -> Path:
        planned = self.find(prompt_id)
        if not planned.recorded:
            raise DataError(f"prompt {prompt_id!r} has no saved take yet")
        return self.folder.take_file(planned)

    def summary(self) -> SessionSummary:
        planned = self.planned
        recorded = Counter(p.prompt.split for p in planned if p.recorded)
        return SessionSummary(
            self.folder.root, {TRAIN: recorded[TRAIN], VALIDATION: recorded[VALIDATION]}, len(planned)
        )


def _prompt_state(planned: PlannedPrompt) -> dict[str, Any]:
    prompt = planned.prompt
    return {
        "id": prompt.id,
        "text": prompt.text,
        "term": prompt.term,
        "kind": prompt.kind,
        "split": prompt.split,
        "file": planned.file,
        "recorded": planned.recorded,
    }


def next_commands(
    summary: SessionSummary, data_dir: Path = Path("data"), config: str = "configs/tiny_lora.yaml"
) -> list[str]:
    """The commands that turn the recordings into a fine-tuned model (empty if nothing is recorded)."""
    if summary.recorded[TRAIN] == 0:
        return []
    out = summary.out
    train_csv = data_dir / "train.csv"
    commands = [f"whisper-tune manifest build {_quote(out / TRAIN)} --speaker-from-dir -o {_quote(train_csv)}"]
    overrides = [f"train_manifest={_quote(train_csv)}"]
    if summary.recorded[VALIDATION]:
        val_csv = data_dir / "val.csv"
        commands.append(
            f"whisper-tune manifest build {_quote(out / VALIDATION)} --speaker-from-dir -o {_quote(val_csv)}"
        )
        overrides.append(f"validation_manifest={_quote(val_csv)}")
    else:  # the config's default names a file this session did not make
        overrides.append("validation_manifest=null")
    commands.append(f"whisper-tune train --config {config} {' '.join(overrides)} output_dir=runs/mine --merge")
    return commands


def _quote(path: Path | str) -> str:
    return shlex.quote(str(path))
