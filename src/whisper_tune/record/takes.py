"""One recorded take: decode what the browser sent, and judge it before it is kept.

A take is refused when it cannot train anything (no speech, clipped, too short or too
long); a take that is usable but suspicious (speech running into either end of the
recording) is kept with a warning. The page shows the same checks live, with the limits it
gets from the server, so the user hears about a problem before pressing enter.
"""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from whisper_tune.audio import SAMPLE_RATE, resample
from whisper_tune.errors import TakeRejected


@dataclass(frozen=True)
class TakeLimits:
    """What a take must satisfy; sent to the page so its live warnings agree with the server."""

    #: Shorter takes hold no whole word.
    min_seconds: float = 0.3
    #: ACFT leaves out clips over 29 s, and Whisper cuts everything past 30 s.
    max_seconds: float = 29.0
    #: Length of the frames levels are measured over.
    frame_seconds: float = 0.05
    #: When even the loudest frame is quieter than this (dBFS RMS), nothing was said.
    silence_db: float = -45.0
    #: A sample this close to full scale counts as clipped ...
    clip_level: float = 0.999
    #: ... and a take with more than this share of clipped samples is refused.
    clip_share: float = 0.001
    #: The stretch at each end that should be quieter than speech ...
    edge_seconds: float = 0.1
    #: ... i.e. at least this many dB below the loudest frame, or speech was cut off there.
    edge_margin_db: float = 15.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The limits a session uses unless told otherwise (frozen: safe to share).
DEFAULT_LIMITS = TakeLimits()


@dataclass
class TakeCheck:
    """The verdict on a take: ``problems`` refuse it, ``warnings`` only inform."""

    duration: float
    peak: float
    loudest_db: float
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.problems


def decode_take(data: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate from an uploaded audio file (WAV from the page)."""
    import soundfile as sf

    if not data:
        raise TakeRejected("the take is empty (no audio was sent); record it again")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as exc:  # soundfile raises several types for bytes that are not audio
        reason = str(exc).strip().rsplit(": ", 1)[-1] or type(exc).__name__
        raise TakeRejected(f"the take is not a readable audio file ({reason}); record it again") from exc
    if samples.shape[0] == 0:
        raise TakeRejected("the take holds no audio samples; record it again")
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    return np.ascontiguousarray(mono, dtype=np.float32), int(rate)


def check_take(samples: np.ndarray, rate: int, limits: TakeLimits = DEFAULT_LIMITS) -> TakeCheck:
    """Judge a take at its own sample rate (clipping is judged before any resampling)."""
    duration = len(samples) / rate
    levels = frame_levels_db(samples, rate, limits.frame_seconds)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    check = TakeCheck(duration, peak, float(levels.max()) if len(levels) else -math.inf)
    if duration < limits.min_seconds:
        check.problems.append(
            f"the take lasts {duration:.2f} s; hold the recording for at least {limits.min_seconds:g} s"
        )
    if duration > limits.max_seconds:
        check.problems.append(
            f"the take lasts {duration:.1f} s; keep it under {limits.max_seconds:g} s (split long sentences)"
        )
    if check.loudest_db < limits.silence_db:
        check.problems.append(
            f"no speech heard (loudest {_db(check.loudest_db)} < {limits.silence_db:g} dBFS); "
            "check that the right microphone is selected and not muted, then record again"
        )
        return check
    clipped = float(np.mean(np.abs(samples) >= limits.clip_level)) if len(samples) else 0.0
    if clipped > limits.clip_share:
        check.problems.append(
            f"the take is clipped ({clipped:.1%} of samples at full scale); "
            "lower the microphone gain or move back from it, then record again"
        )
    check.warnings.extend(_cut_off_warnings(levels, check.loudest_db, limits))
    return check


def _cut_off_warnings(levels: np.ndarray, loudest_db: float, limits: TakeLimits) -> list[str]:
    edge_frames = max(1, round(limits.edge_seconds / limits.frame_seconds))
    if len(levels) < 2 * edge_frames:
        return []
    threshold = loudest_db - limits.edge_margin_db
    warnings = []
    if levels[:edge_frames].max() > threshold:
        warnings.append("speech may be cut off at the start: start recording, then wait a moment before speaking")
    if levels[-edge_frames:].max() > threshold:
        warnings.append("speech may be cut off at the end: finish the words before you stop the recording")
    return warnings


def frame_levels_db(samples: np.ndarray, rate: int, frame_seconds: float) -> np.ndarray:
    """RMS level (dBFS) of consecutive frames; a trailing partial frame is measured too."""
    frame = max(1, round(frame_seconds * rate))
    count = math.ceil(len(samples) / frame)
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    padded = np.zeros(count * frame, dtype=np.float64)
    padded[: len(samples)] = samples
    frames = padded.reshape(count, frame)
    # The partial last frame is averaged over its real length, not the zero padding.
    lengths = np.full(count, frame, dtype=np.float64)
    lengths[-1] = len(samples) - (count - 1) * frame
    rms = np.sqrt((frames**2).sum(axis=1) / lengths)
    with np.errstate(divide="ignore"):
        return 20 * np.log10(rms)


def prepare_take(data: bytes, limits: TakeLimits = DEFAULT_LIMITS) -> tuple[np.ndarray, TakeCheck]:
    """Decode and check an upload; returns 16 kHz mono samples, or raises :class:`TakeRejected`."""
    samples, rate = decode_take(data)
    check = check_take(samples, rate, limits)
    if not check.accepted:
        raise TakeRejected("; ".join(check.problems))
    return resample(samples, rate, SAMPLE_RATE), check


def _db(level: float) -> str:
    return "digital silence" if level == -math.inf else f"{level:.1f} dBFS"
