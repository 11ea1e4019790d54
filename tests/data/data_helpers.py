"""Helpers of the data tests (imported by the tests; no fixtures here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def write_clip(
    path: Path,
    seconds: float,
    rate: int = 16_000,
    seed: int = 0,
    channels: int = 1,
    level: float = 0.1,
    subtype: str = "PCM_16",
) -> Path:
    """Speech-like test audio: a few tones with a syllable-rate envelope plus a little noise."""
    n = round(seconds * rate)
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate
    freqs = rng.uniform(120, 900, size=3)
    tone = sum(np.sin(2 * np.pi * f * t) for f in freqs) / 3
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * 4 * t + seed)
    signal = level * (tone * envelope + 0.05 * rng.standard_normal(n))
    data = np.repeat(signal[:, None], channels, axis=1) if channels > 1 else signal
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, data.astype(np.float32), rate, subtype=subtype)
    return path
