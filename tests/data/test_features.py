"""log_mel equals the feature extractor; the cache is exact, compact, keyed and self-healing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from tests.data.data_helpers import write_clip
from whisper_tune.audio import load_audio
from whisper_tune.data.features import (
    FeatureCache,
    cache_base,
    content_frames,
    log_mel,
    pack_features,
    unpack_features,
)
from whisper_tune.errors import AudioError, ConfigError


@pytest.fixture(scope="module")
def fe80() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=80)


@pytest.fixture(scope="module")
def fe128() -> WhisperFeatureExtractor:
    return WhisperFeatureExtractor(feature_size=128)


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4.3 s at 44.1 kHz, stereo, so loading resamples and downmixes (no ../shared needed)."""
    return write_clip(tmp_path_factory.mktemp("clip") / "clip.wav", 4.3, rate=44_100, channels=2, seed=5)


def test_content_frames() -> None:
    assert [content_frames(n) for n in (0, 1, 160, 161, 16_000, 480_000)] == [0, 1, 1, 2, 100, 3000]


def test_log_mel_is_exactly_the_feature_extractor(fe80, fe128, jfk_audio) -> None:
    cut = jfk_audio[:80_000]
    for fe, n_mels in ((fe80, 80), (fe128, 128)):
        features = log_mel(cut, fe)
        reference = fe(cut, sampling_rate=16_000, return_tensors="np").input_features[0]
        assert features.dtype == np.float32 and features.shape == (n_mels, 3000)
        assert np.array_equal(features, reference)


@pytest.mark.parametrize("seconds", [0.05, 1.0, 7.31, 29.99, 30.0, 31.0])
def test_pack_unpack_is_bit_exact(fe80, seconds: float) -> None:
    samples = np.random.default_rng(1).standard_normal(int(seconds * 16_000)).astype(np.float32) * 0.1
    features = log_mel(samples, fe80)
    content, tail = pack_features(features)
    assert np.array_equal(unpack_features(content, tail, 3000), features)
    # The stored part ends within a couple of frames of the audio (the STFT window overlaps it).
    frames = min(content_frames(len(samples)), 3000)
    assert frames <= content.shape[1] <= min(frames + 3, 3000)


def test_cache_hits_on_second_epoch_and_second_run(tmp_path: Path, fe80, speech_clip: Path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    first = cache.lookup(speech_clip, fe80)
    expected = log_mel(load_audio(speech_clip), fe80)
    assert np.array_equal(first.features, expected)
    assert first.n_samples == len(load_audio(speech_clip))
    again = cache.get(speech_clip, fe80)
    assert np.array_equal(again, expected) and (cache.hits, cache.misses) == (1, 1)
    other_run = FeatureCache(tmp_path / "cache")
    assert np.array_equal(other_run.get(speech_clip, fe80), expected) and other_run.misses == 0
    entry = cache.entry_path(speech_clip, fe80)
    assert entry.is_file() and entry.stat().st_size < 80 * 3000 * 4 / 4  # well under a quarter of 960 KB
    assert (entry.parent.parent / "settings.json").is_file()
    assert not [p for p in entry.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_cache_key_follows_content_and_settings(tmp_path: Path, fe80, fe128) -> None:
    cache = FeatureCache(tmp_path / "cache")
    clip = write_clip(tmp_path / "a.wav", 1.0, seed=1)
    same_bytes = tmp_path / "copy" / "b.wav"
    same_bytes.parent.mkdir()
    same_bytes.write_bytes(clip.read_bytes())
    assert cache.entry_path(clip, fe80) == cache.entry_path(same_bytes, fe80)
    assert cache.entry_path(clip, fe80) != cache.entry_path(clip, fe128)
    assert cache.get(clip, fe128).shape == (128, 3000)
    write_clip(clip, 1.0, seed=2)  # new content under the old name
    assert cache.entry_path(clip, fe80) != cache.entry_path(same_bytes, fe80)


def test_corrupt_entries_are_recomputed(tmp_path: Path, fe80) -> None:
    cache = FeatureCache(tmp_path / "cache")
    clip = write_clip(tmp_path / "a.wav", 2.0, seed=3)
    expected = cache.get(clip, fe80)
    entry = cache.entry_path(clip, fe80)
    good_bytes = entry.read_bytes()
    for damage in (good_bytes[: len(good_bytes) // 2], b"", b"not a zip file at all", good_bytes[:-40] + bytes(40)):
        entry.write_bytes(damage)
        assert np.array_equal(FeatureCache(tmp_path / "cache").get(clip, fe80), expected)
        assert entry.read_bytes() == good_bytes  # replaced by a good entry


def test_default_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHISPER_TUNE_CACHE", str(tmp_path / "wt"))
    assert cache_base() == tmp_path / "wt"
    assert FeatureCache().root == tmp_path / "wt" / "features"
    monkeypatch.delenv("WHISPER_TUNE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert FeatureCache().root == tmp_path / "xdg" / "whisper-tune" / "features"


@pytest.mark.filterwarnings("ignore:At least one mel filter")
def test_bad_inputs(tmp_path: Path, fe80) -> None:
    with pytest.raises(AudioError, match="no such file"):
        FeatureCache(tmp_path).get(tmp_path / "missing.wav", fe80)
    with pytest.raises(ConfigError, match="sampling_rate=8000"):
        log_mel(np.zeros(100, dtype=np.float32), WhisperFeatureExtractor(sampling_rate=8000))
