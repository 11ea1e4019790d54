"""Batches: encoder context per batch, features cut to it, labels padded with -100."""

from __future__ import annotations

import math

import pytest
import torch

from whisper_tune.data.dataset import SpeechDataset
from whisper_tune.data.manifest import read_manifest
from whisper_tune.models import load_processor
from whisper_tune.models.short_encoder import FULL_AUDIO_CTX, futo_audio_ctx
from whisper_tune.training.batching import BatchSettings, TrainingData, batch_context, clip_context
from whisper_tune.training.labels import IGNORE_INDEX, Example


@pytest.mark.parametrize("n_samples", [1, 159, 160, 161, 319, 320, 321, 16000, 37_123, 479_999])
def test_clip_context_is_futo_voice_inputs_audio_ctx(n_samples):
    n_frames = math.ceil(n_samples / 160)
    assert clip_context(n_frames, 32) == futo_audio_ctx(n_samples, offset=32, floor=None)


def test_batch_context_follows_the_longest_clip_or_the_full_share():
    assert batch_context([100, 300, 200], "clip", 32, 0.0, seed=0, step=5) == 150 + 32
    assert batch_context([100], "full", 32, 0.0, seed=0, step=5) == FULL_AUDIO_CTX
    draws = [batch_context([100], "clip", 0, 0.25, seed=3, step=s) for s in range(400)]
    share = draws.count(FULL_AUDIO_CTX) / len(draws)
    assert 0.18 < share < 0.32
    assert draws == [batch_context([100], "clip", 0, 0.25, seed=3, step=s) for s in range(400)]


def test_collate_cuts_features_and_pads_tokens(random_manifest, tiny_random_dir):
    rows = read_manifest(random_manifest)[:6]
    dataset = SpeechDataset(rows, load_processor(str(tiny_random_dir)))
    examples = [Example(list(range(50257, 50257 + n)), [*range(50258, 50257 + n), 50256]) for n in (3, 5, 4, 2, 6, 3)]
    data = TrainingData(dataset, examples, BatchSettings(batch_size=3, encoder_context="clip",
                                                         clip_ctx_offset=16, full_context_fraction=0.0, seed=0))
    plan = data.batch_plan(epoch=0)
    assert sorted(i for batch in plan for i in batch) == list(range(6))
    batch = data.collate([0, 1, 4], step=0, device=torch.device("cpu"))
    n_ctx = clip_context(max(dataset[i]["n_frames"] for i in (0, 1, 4)), 16)
    assert batch["n_ctx"] == n_ctx and batch["size"] == 3
    assert batch["input_features"].shape == (3, 80, 2 * n_ctx)
    torch.testing.assert_close(
        batch["input_features"][1], torch.from_numpy(dataset[1]["input_features"][:, : 2 * n_ctx])
    )
    assert batch["labels"].shape == batch["decoder_input_ids"].shape == (3, 6)
    assert batch["labels"][0].tolist() == [50258, 50259, 50256, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]
    assert batch["decoder_input_ids"][0].tolist() == [50257, 50258, 50259, 50256, 50256, 50256]
    assert int((batch["labels"] != IGNORE_INDEX).sum()) == batch["label_tokens"] == 3 + 5 + 6
    # The real labels only, row-major, for a loss that computes no logits for padding.
    real = batch["labels"].reshape(-1) != IGNORE_INDEX
    assert batch["label_positions"].tolist() == real.nonzero().squeeze(1).tolist()
    assert batch["label_targets"].tolist() == batch["labels"].reshape(-1)[real].tolist()
