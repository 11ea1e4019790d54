"""Judging a take: silence, clipping, length and cut-off speech, on synthetic signals."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile as sf

from whisper_tune.errors import TakeRejected
from whisper_tune.record.takes import TakeLimits, check_take, decode_take, frame_levels_db, prepare_take

RATE = 48_000


def speech_like(seconds: float, rate: int = RATE, pad: float = 0.3, level: float = 0.3) -> np.ndarray:
    """A vowel-like buzz with quiet lead-in and tail, as a well-recorded word would be."""
    t = np.arange(int(seconds * rate)) / rate
    voice = level * np.sin(2 * np.pi * 180 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))
    voice[: int(pad * rate)] = 0
    voice[len(voice) - int(pad * rate) :] = 0
    noise = np.random.default_rng(0).normal(0, 1e-4, len(voice))
    return (voice + noise).astype(np.float32)


def wav_bytes(samples: np.ndarray, rate: int = RATE, channels: int = 1) -> bytes:
    data = np.repeat(samples[:, None], channels, axis=1) if channels > 1 else samples
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_a_clean_take_passes_without_warnings() -> None:
    check = check_take(speech_like(1.5), RATE)
    assert check.accepted and check.warnings == []
    assert check.duration == pytest.approx(1.5)
    assert -16 < check.loudest_db < -10


def test_silence_is_refused() -> None:
    check = check_take(np.random.default_rng(1).normal(0, 1e-3, RATE).astype(np.float32), RATE)
    assert not check.accepted
    assert check.problems[0].startswith("no speech heard (loudest -")
    assert "digital silence" in check_take(np.zeros(RATE, np.float32), RATE).problems[0]


def test_clipping_is_refused() -> None:
    clipped = np.clip(speech_like(1.5, level=3.0), -1, 1)
    check = check_take(clipped, RATE)
    assert any(p.startswith("the take is clipped") for p in check.problems)


def test_a_few_full_scale_samples_are_not_clipping() -> None:
    take = speech_like(1.5)
    take[RATE // 2 : RATE // 2 + 10] = 1.0  # 10 of 72000 samples: a click, not distortion
    assert check_take(take, RATE).accepted


def test_length_limits() -> None:
    limits = TakeLimits()
    assert "at least 0.3 s" in check_take(speech_like(0.2, pad=0.05), RATE).problems[0]
    assert "under 29 s" in check_take(speech_like(30.0), RATE).problems[0]
    assert limits.max_seconds <= 29  # ACFT leaves out longer clips


def test_speech_running_into_either_end_is_a_warning() -> None:
    start = check_take(speech_like(1.5, pad=0)[: int(1.2 * RATE)], RATE)
    assert start.accepted
    assert [w.split(":")[0] for w in start.warnings] == [
        "speech may be cut off at the start",
        "speech may be cut off at the end",
    ]
    tail_cut = speech_like(1.5)[: int(1.1 * RATE)]
    assert [w.split(":")[0] for w in check_take(tail_cut, RATE).warnings] == ["speech may be cut off at the end"]


def test_decode_downmixes_and_prepare_resamples_to_16k() -> None:
    samples, rate = decode_take(wav_bytes(speech_like(1.0), channels=2))
    assert rate == RATE and samples.ndim == 1 and len(samples) == RATE
    prepared, check = prepare_take(wav_bytes(speech_like(1.0)))
    assert len(prepared) == 16_000 and prepared.dtype == np.float32
    assert check.accepted


@pytest.mark.parametrize(
    ("data", "expected"), [(b"", "the take is empty"), (b"not audio at all", "not a readable audio file")]
)
def test_undecodable_takes_are_refused(data: bytes, expected: str) -> None:
    with pytest.raises(TakeRejected, match=expected):
        prepare_take(data)


def test_prepare_refuses_with_every_problem() -> None:
    with pytest.raises(TakeRejected, match=r"at least 0\.3 s; no speech heard"):
        prepare_take(wav_bytes(np.zeros(RATE // 10, np.float32)))


def test_frame_levels_measure_a_partial_last_frame_over_its_length() -> None:
    levels = frame_levels_db(np.full(150, 0.5, np.float32), 1000, 0.1)
    assert levels == pytest.approx([20 * np.log10(0.5)] * 2)
