"""Audio input: any file soundfile reads (wav, flac, ogg, mp3), as 16 kHz mono float32.

Whisper and whisper.cpp both expect 16 kHz mono; every other part of whisper-tune gets its
samples from :func:`load_audio` so resampling and downmixing happen in exactly one place.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisper_tune.errors import AudioError
from whisper_tune.fileio import atomic_open
from whisper_tune.whisper_constants import SAMPLE_RATE


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says, before any decoding or resampling."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def audio_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Read the header of an audio file. Raises :class:`AudioError` if it is not audio."""
    import soundfile as sf

    file = _existing_file(path)
    try:
        info = sf.info(str(file))
    except Exception as exc:  # soundfile raises several types for a bad file
        raise AudioError(
            f"{file}: not a readable audio file ({_reason(exc)}); "
            "expected wav, flac, ogg or mp3"
        ) from exc
    return AudioInfo(file, int(info.samplerate), int(info.channels), int(info.frames), str(info.format))


def load_audio(path: str | os.PathLike[str], sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Decode ``path`` to mono float32 in [-1, 1] at ``sample_rate`` (default 16 kHz)."""
    import soundfile as sf

    file = _existing_file(path)
    try:
        data, source_rate = sf.read(str(file), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(
            f"{file}: cannot decode audio ({_reason(exc)}); expected wav, flac, ogg or mp3"
        ) from exc
    if data.shape[0] == 0:
        raise AudioError(f"{file}: the file holds no audio samples")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    return resample(np.ascontiguousarray(mono, dtype=np.float32), int(source_rate), sample_rate)


def resample(samples: np.ndarray, source_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    """High-quality resampling (soxr); a no-op when the rates already match."""
    if source_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples, source_rate, target_rate, quality="HQ").astype(np.float32, copy=False)


def write_wav(path: str | os.PathLike[str], samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write 16-bit PCM wav atomically (used for clips, cuts and synthesized test audio)."""
    import soundfile as sf

    with atomic_open(path, "wb") as handle:
        sf.write(handle, np.asarray(samples, dtype=np.float32), sample_rate, format="WAV", subtype="PCM_16")


def _existing_file(path: str | os.PathLike[str]) -> Path:
    file = Path(path)
    if not file.exists():
        raise AudioError(f"{file}: no such file")
    if not file.is_file():
        raise AudioError(f"{file}: is not a file")
    return file


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
