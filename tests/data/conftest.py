"""Fixtures of the data tests: real audio files written with soundfile, and ../shared."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from data_helpers import write_clip

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the repository (real speech); tests using it skip without it."""
    if not (SHARED / "audio" / "jfk.wav").is_file():
        pytest.skip(f"needs ../shared/audio/jfk.wav beside the repository ({SHARED.resolve()} is absent)")
    return SHARED.resolve()


@pytest.fixture(scope="session")
def jfk(shared_dir: Path) -> np.ndarray:
    samples, rate = sf.read(shared_dir / "audio" / "jfk.wav", dtype="float32")
    assert rate == 16_000
    return samples


@pytest.fixture
def make_clip() -> Callable[..., Path]:
    """``make_clip(path, seconds, rate=16000, seed=0, channels=1, level=0.1)`` writes a clip."""
    return write_clip
