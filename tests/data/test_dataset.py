"""SpeechDataset items and length-grouped batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from transformers import WhisperFeatureExtractor

from tests.data.data_helpers import write_clip
from whisper_tune.audio import load_audio
from whisper_tune.data.dataset import SpeechDataset, length_grouped_batches, stack_features
from whisper_tune.data.features import FeatureCache, log_mel
from whisper_tune.data.manifest import ManifestRow
from whisper_tune.errors import ConfigError


def test_items_with_and_without_cache_agree(tmp_path: Path) -> None:
    fe = WhisperFeatureExtractor()
    rows = [
        ManifestRow("a", write_clip(tmp_path / "a.wav", 1.234, rate=22_050, seed=1), "alpha", 1.234, 22_050, 1),
        ManifestRow("b", write_clip(tmp_path / "b.wav", 31.0, rate=8_000, seed=2), "bravo", 31.0, 8_000, 1),
    ]
    cache = FeatureCache(tmp_path / "cache")
    cached, plain = SpeechDataset(rows, fe, cache), SpeechDataset(rows, fe)
    assert len(cached) == 2
    item = cached[0]
    assert set(item) == {"input_features", "n_frames", "text", "id"}
    assert (item["id"], item["text"]) == ("a", "alpha")
    assert item["input_features"].dtype == np.float32 and item["input_features"].shape == (80, 3000)
    samples = load_audio(rows[0].audio)
    assert item["n_frames"] == -(-len(samples) // 160) == 124
    assert np.array_equal(item["input_features"], log_mel(samples, fe))
    assert np.array_equal(plain[0]["input_features"], item["input_features"])
    assert cached[1]["n_frames"] == plain[1]["n_frames"] == 3000  # capped at the 30 s window
    assert cached.lengths() == [124, 3000]
    cached[0]
    assert (cache.hits, cache.misses) == (1, 2)
    assert stack_features([cached[0], cached[1]]).shape == (2, 80, 3000)


def test_dataset_takes_a_processor_or_refuses_other_things() -> None:
    class Processor:
        feature_extractor = WhisperFeatureExtractor(feature_size=128)

    assert SpeechDataset([], Processor()).feature_extractor.feature_size == 128
    with pytest.raises(ConfigError, match="expected a WhisperProcessor"):
        SpeechDataset([], object())


def test_length_grouped_batches() -> None:
    lengths = list(np.random.default_rng(0).integers(50, 3000, size=1000))
    batches = length_grouped_batches(lengths, 8, seed=1, epoch=0)
    assert sorted(i for batch in batches for i in batch) == list(range(1000))
    assert all(len(b) == 8 for b in batches)
    assert batches == length_grouped_batches(lengths, 8, seed=1, epoch=0)
    assert batches != length_grouped_batches(lengths, 8, seed=1, epoch=1)
    assert batches != length_grouped_batches(lengths, 8, seed=2, epoch=0)
    spread = np.mean([max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches])
    assert spread < 100  # random batches of 8 would spread ~2000 frames
    assert batches[0] != max(batches, key=lambda b: lengths[b[0]])  # not longest-first
    assert length_grouped_batches([5, 5, 5], 2, seed=0, epoch=0) in ([[0, 1], [2]], [[2], [0, 1]])
    assert length_grouped_batches([], 4, 0, 0) == []
    with pytest.raises(ConfigError, match="batch_size=0"):
        length_grouped_batches([1], 0, 0, 0)
