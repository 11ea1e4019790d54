"""Checks that need the audio itself: readable, not empty, not silent, not too long or short,
not a duplicate, inside the dataset root.

Every candidate either becomes a :class:`~whisper_tune.data.manifest.ManifestRow` or a
:class:`~whisper_tune.data.report.Problem`; nothing is dropped unreported.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune.data.manifest import ManifestRow
from whisper_tune.data.report import Problem
from whisper_tune.data.sources import UNSUPPORTED_AUDIO_EXTENSIONS, Candidate
from whisper_tune.errors import ConfigError
from whisper_tune.whisper_constants import CHUNK_SECONDS

log = logging.getLogger(__name__)

#: Whisper's window: longer clips would be cut off in training.
MAX_SECONDS = float(CHUNK_SECONDS)
#: ACFT skips clips over 29 s (FUTO's notebook), so an ACFT manifest must not hold them.
ACFT_MAX_SECONDS = 29.0


@dataclass(frozen=True)
class Limits:
    """What a clip must satisfy to enter a manifest."""

    #: Seconds; longer clips are left out (30 s, or 29 s with ``acft``).
    max_duration: float = MAX_SECONDS
    #: Seconds; shorter clips are left out (shorter than a short word is usually a mistake).
    min_duration: float = 0.2
    #: A clip whose RMS level is below this (dBFS) counts as silent.
    silence_db: float = -60.0

    @classmethod
    def for_use(cls, acft: bool = False, min_duration: float | None = None, silence_db: float | None = None) -> Limits:
        """The limits for plain fine-tuning, or the stricter ones ACFT needs."""
        limits = cls(
            max_duration=ACFT_MAX_SECONDS if acft else MAX_SECONDS,
            min_duration=cls.min_duration if min_duration is None else float(min_duration),
            silence_db=cls.silence_db if silence_db is None else float(silence_db),
        )
        limits.check()
        return limits

    def check(self) -> None:
        if not 0 <= self.min_duration < self.max_duration:
            raise ConfigError(
                f"min_duration={self.min_duration}: expected 0 <= min_duration < max_duration={self.max_duration}"
            )
        if not self.silence_db < 0:
            raise ConfigError(f"silence_db={self.silence_db}: expected a negative dBFS level such as -60")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AudioFacts:
    """What decoding one file told us."""

    sample_rate: int = 0
    channels: int = 0
    frames: int = 0
    rms_db: float = -math.inf
    digest: str = ""
    problem: tuple[str, str] | None = None  # (reason, detail)

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def escapes_root(audio: Path, root: Path) -> bool:
    """True when ``audio`` lies outside ``root`` (compared lexically: symlinks are allowed)."""
    audio_abs = os.path.normpath(os.path.abspath(audio))
    root_abs = os.path.normpath(os.path.abspath(root))
    try:
        return os.path.commonpath([audio_abs, root_abs]) != root_abs
    except ValueError:  # different drives
        return True


def inspect_audio(path: Path, max_seconds: float | None = None) -> AudioFacts:
    """Decode ``path`` once: header facts, level and a content digest (or the problem).

    A file whose header says it is longer than ``max_seconds`` is not decoded (it will be
    left out as too long anyway, and an hour-long recording would take gigabytes).
    """
    import soundfile as sf

    if not path.exists():
        return AudioFacts(problem=("missing_audio", "no such file"))
    if path.suffix.lower() in UNSUPPORTED_AUDIO_EXTENSIONS:
        return AudioFacts(
            problem=(
                "unreadable_audio",
                f"{path.suffix} is not supported; convert it: ffmpeg -i {path.name} {path.stem}.wav",
            )
        )
    try:
        header = sf.info(str(path))
        if max_seconds is not None and header.frames > max_seconds * header.samplerate:
            return AudioFacts(int(header.samplerate), int(header.channels), int(header.frames))
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for a bad file
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return AudioFacts(problem=("unreadable_audio", f"{reason}; expected wav, flac, ogg or mp3"))
    frames, channels = data.shape
    if frames == 0:
        return AudioFacts(int(rate), channels, 0, problem=("empty_audio", "0 samples"))
    rms = float(np.sqrt(np.mean(np.square(data, dtype=np.float64))))
    rms_db = 20 * math.log10(rms) if rms > 0 else -math.inf
    # The digest covers the decoded samples, so the same recording saved as wav and flac
    # is caught as a duplicate too.
    digest = hashlib.blake2b(f"{rate}:{channels}:".encode() + data.tobytes(), digest_size=16).hexdigest()
    return AudioFacts(int(rate), int(channels), int(frames), rms_db, digest)


def check_candidates(
    candidates: Sequence[Candidate], limits: Limits, workers: int | None = None
) -> tuple[list[ManifestRow], list[Problem]]:
    """Decode and check every candidate; returns (rows kept, problems), in candidate order."""
    facts = _inspect_all([c.audio for c in candidates], limits.max_duration, workers)
    rows: list[ManifestRow] = []
    problems: list[Problem] = []
    first_by_id: dict[str, Candidate] = {}
    first_by_digest: dict[str, Candidate] = {}
    for candidate, fact in zip(candidates, facts, strict=True):
        problem = _clip_problem(candidate, fact, limits)
        if problem is None and candidate.id in first_by_id:
            problem = ("duplicate_id", f"id {candidate.id!r} is also {first_by_id[candidate.id].audio}")
        if problem is None and fact.digest in first_by_digest:
            first = first_by_digest[fact.digest]
            problem = ("duplicate_audio", f"same samples as {first.audio} (id {first.id!r})")
        if problem is not None:
            problems.append(Problem(str(candidate.audio), problem[0], problem[1], candidate.id))
            continue
        first_by_id[candidate.id] = candidate
        first_by_digest[fact.digest] = candidate
        rows.append(
            ManifestRow(
                id=candidate.id,
                audio=candidate.audio,
                text=candidate.text or "",
                duration=fact.duration,
                sample_rate=fact.sample_rate,
                channels=fact.channels,
                speaker=candidate.speaker,
                language=candidate.language,
            )
        )
    return rows, problems


def _clip_problem(candidate: Candidate, fact: AudioFacts, limits: Limits) -> tuple[str, str] | None:
    if candidate.root is not None and escapes_root(candidate.audio, candidate.root):
        return (
            "path_escapes_root",
            f"outside {candidate.root}; keep the audio inside the dataset folder or name a wider one with `root`",
        )
    if fact.problem is not None:
        return fact.problem
    if not candidate.text:
        return ("missing_transcript", "no transcript")
    if fact.duration > limits.max_duration:
        return ("too_long", f"{fact.duration:.2f} s > {limits.max_duration:g} s; cut it into shorter clips")
    if fact.duration < limits.min_duration:
        return ("too_short", f"{fact.duration:.3f} s < {limits.min_duration:g} s")
    if fact.rms_db < limits.silence_db:
        level = "digital silence" if fact.rms_db == -math.inf else f"RMS {fact.rms_db:.1f} dBFS"
        return ("silent", f"{level} < {limits.silence_db:g} dBFS")
    return None


def _inspect_all(paths: Sequence[Path], max_seconds: float, workers: int | None) -> list[AudioFacts]:
    """Decode in a few threads (libsndfile and hashing release the GIL), with progress."""
    from rich.console import Console
    from rich.progress import Progress

    count = workers or min(4, os.cpu_count() or 1)
    # Progress goes to stderr so that stdout carries only results.
    console = Console(stderr=True)
    with Progress(transient=True, console=console, disable=not console.is_terminal) as progress:
        task = progress.add_task("checking audio", total=len(paths))
        results: list[AudioFacts] = []
        with ThreadPoolExecutor(max_workers=count) as pool:
            for fact in pool.map(lambda path: inspect_audio(path, max_seconds), paths):
                results.append(fact)
                progress.advance(task)
    return results
