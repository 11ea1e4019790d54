"""The recordings folder: accepted takes, their transcripts and the prompts file.

Layout (what ``manifest build --speaker-from-dir`` reads, one folder per split)::

    OUT/train/VOICE/kubectl-short-1.wav   16 kHz mono 16-bit PCM
    OUT/train/VOICE/kubectl-short-1.txt   the prompt's text
    OUT/val/VOICE/kubectl-heldout-1.wav   held-out sentences: the validation split
    OUT/prompts.csv                       which prompt each file answers

Every file is written under a temporary name and renamed into place, so a re-recorded take
replaces the old one only once the new one is complete, and an interrupted session never
leaves half a file. ``prompts.csv`` is both the record of the session and what resuming
reads: a prompt whose text this voice has already recorded (files present) is not asked again.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
import tempfile
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import numpy as np

from whisper_tune.audio import write_wav
from whisper_tune.errors import DataError
from whisper_tune.fileio import atomic_write_text
from whisper_tune.record.prompts import Prompt

log = logging.getLogger(__name__)

PROMPTS_FILE = "prompts.csv"
_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True)
class PromptRecord:
    """One row of ``prompts.csv``: the take at ``file`` answers ``text``."""

    file: str
    voice: str
    split: str
    kind: str
    term: str
    text: str


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(PromptRecord))


@dataclass(frozen=True)
class PlannedPrompt:
    """A prompt of this session with the file its take goes to (relative to the folder)."""

    prompt: Prompt
    file: str
    recorded: bool

    @property
    def id(self) -> str:
        return self.prompt.id


def check_voice(voice: str) -> str:
    """A speaker id usable as a folder name, or a :class:`DataError` that says what is allowed."""
    if not _VOICE.fullmatch(voice):
        raise DataError(
            f"`voice` {voice!r}: expected 1 to 64 letters, digits, '_', '-' or '.', starting with a "
            "letter or digit (it becomes the speaker folder), e.g. `voice` alice"
        )
    return voice


class RecordingFolder:
    """Reads and writes one recordings folder for one voice; safe to use from several threads."""

    def __init__(self, root: Path, voice: str) -> None:
        self.root = Path(root)
        self.voice = check_voice(voice)
        self._lock = threading.Lock()
        _ensure_writable(self.root)

    @property
    def prompts_file(self) -> Path:
        return self.root / PROMPTS_FILE

    def read_records(self) -> list[PromptRecord]:
        return read_prompt_records(self.prompts_file)

    def plan(self, prompts: list[Prompt]) -> list[PlannedPrompt]:
        """Each prompt with its file; already recorded when this voice has a take of its text."""
        records = [r for r in self.read_records() if self._has_take(r.file)]
        done = {(r.voice, r.split, r.text): r.file for r in records}
        taken = {r.file for r in records}
        planned = []
        for prompt in prompts:
            file = done.get((self.voice, prompt.split, prompt.text))
            recorded = file is not None
            if file is None:
                file = self._free_file(prompt, taken)
            taken.add(file)
            planned.append(PlannedPrompt(prompt, file, recorded))
        return planned

    def _free_file(self, prompt: Prompt, taken: set[str]) -> str:
        """``split/voice/id.wav``, or ``id-2.wav`` ... when that name answers another text."""
        stem = f"{prompt.split}/{self.voice}/{prompt.id}"
        file, number = f"{stem}.wav", 1
        while file in taken or (self.root / file).exists():
            number += 1
            file = f"{stem}-{number}.wav"
        return file

    def _has_take(self, file: str) -> bool:
        wav = self.root / file
        return wav.is_file() and wav.with_suffix(".txt").is_file()

    def save(self, planned: PlannedPrompt, samples: np.ndarray) -> PlannedPrompt:
        """Write a take (16 kHz mono samples) and its transcript, then record it in prompts.csv."""
        wav = self.root / planned.file
        prompt = planned.prompt
        record = PromptRecord(planned.file, self.voice, prompt.split, prompt.kind, prompt.term, prompt.text)
        with self._lock:
            first_take = not wav.exists()
            try:
                atomic_write_text(wav.with_suffix(".txt"), prompt.text + "\n")
                write_wav(wav, samples)
                others = [r for r in self.read_records() if r.file != planned.file]
                write_prompt_records(self.prompts_file, [*others, record])
            except BaseException as exc:
                if first_take and not wav.exists():  # no transcript without its audio
                    wav.with_suffix(".txt").unlink(missing_ok=True)
                if not isinstance(exc, OSError):
                    raise
                raise DataError(
                    f"{wav}: cannot save the take ({exc.strerror or exc}); free some space or fix the "
                    "folder's permissions, then accept the take again (nothing saved before is lost)"
                ) from exc
        log.debug("saved %s", wav)
        return PlannedPrompt(prompt, planned.file, True)

    def take_file(self, planned: PlannedPrompt) -> Path:
        return self.root / planned.file


def read_prompt_records(path: Path) -> list[PromptRecord]:
    """The rows of a prompts file; an absent file is an empty session."""
    if not path.is_file():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(
            f"{path}: cannot read the prompts file ({exc}); restore it or move it away to start afresh"
        ) from exc
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise DataError(
            f"{path}: columns {reader.fieldnames} are not the prompts file's {list(COLUMNS)}; "
            "restore it or move it away to start afresh"
        )
    records = []
    for line, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise DataError(f"{path}, line {line}: expected {len(COLUMNS)} fields ({', '.join(COLUMNS)})")
        records.append(PromptRecord(**row))
    return records


def write_prompt_records(path: Path, records: list[PromptRecord]) -> None:
    """Rewrite the prompts file atomically, sorted by file so diffs stay small."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(astuple(record) for record in sorted(records, key=lambda r: r.file))
    atomic_write_text(path, buffer.getvalue())


def _ensure_writable(root: Path) -> None:
    """Fail before any recording when takes could not be saved in ``root``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-test-"):
            pass
    except OSError as exc:
        raise DataError(
            f"`root` {root}: cannot write there ({exc.strerror or exc}); choose another folder or fix its permissions"
        ) from exc
    if not os.access(root, os.W_OK | os.X_OK):  # pragma: no cover - root ignores permissions
        raise DataError(f"`root` {root}: the folder is not writable; choose another folder or fix its permissions")
