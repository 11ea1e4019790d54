"""The ACFT loss on a tiny random-weight model: exact zeros, padding, the reference cache."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from whisper_tune.acft.distillation_loss import (
    AcftDistillationLoss,
    ProbeTokenizer,
    collate,
    decoder_states,
    masked_mse,
)
from whisper_tune.errors import ConfigError


@pytest.fixture(scope="module")
def tiny(tiny_random_dir):
    from whisper_tune.models import load_model, load_processor
    from whisper_tune.transcribe.hf import SpecialTokens

    model = load_model(str(tiny_random_dir))
    processor = load_processor(str(tiny_random_dir))
    return model, processor, SpecialTokens.from_model(model)


def _items(processor, special, texts):
    probe = ProbeTokenizer(processor.tokenizer, special, None, "transcribe", 448)
    rng = np.random.default_rng(0)
    items = []
    for index, text in enumerate(texts):
        audio = (0.1 * rng.standard_normal(16000 * (index + 1))).astype(np.float32)
        features = processor.feature_extractor(audio, sampling_rate=16000, return_tensors="np").input_features[0]
        items.append({"input_features": features, "tokens": probe(text), "id": f"clip{index}"})
    return items


def test_probe_tokens_are_prompt_text_eot(tiny):
    _, processor, special = tiny
    tokens = ProbeTokenizer(processor.tokenizer, special, None, "transcribe", 448, lowercase=True)("Hello World")
    assert tokens[:2] == [special.sot, special.no_timestamps]
    assert tokens[-1] == special.eot
    assert processor.tokenizer.decode(tokens[2:-1]) == " hello world"
    assert len(ProbeTokenizer(processor.tokenizer, special, None, "transcribe", 5)("a b c d e f g")) == 5


def test_multilingual_model_needs_a_language(tiny):
    _, processor, special = tiny
    multilingual = dataclasses.replace(special, multilingual=True)
    probe = ProbeTokenizer(processor.tokenizer, multilingual, None, "transcribe", 448)
    with pytest.raises(ConfigError, match="language"):
        probe("hello")


def test_loss_is_zero_at_full_context_and_positive_when_short(tiny):
    model, processor, special = tiny
    distillation = AcftDistillationLoss(copy.deepcopy(model))
    items = _items(processor, special, ["one two three", "a longer sentence with more words"])
    with torch.no_grad():
        full, _ = distillation.loss(model, collate(items, 1500, special.eot))
        short, metrics = distillation.loss(model, collate(items, 100, special.eot))
    assert float(full) == 0.0
    assert float(short) > 1e-4
    assert metrics["n_ctx"] == 100 and metrics["tokens"] == sum(len(i["tokens"]) for i in items)


def test_states_cover_every_decoder_layer_and_the_embeddings(tiny):
    model, processor, special = tiny
    items = _items(processor, special, ["hello"])
    batch = collate(items, 50, special.eot)
    with torch.no_grad():
        states = decoder_states(model, batch.tokens, model.get_encoder()(batch.features).last_hidden_state)
    assert states.shape == (1, model.config.decoder_layers + 1, batch.tokens.shape[1], model.config.d_model)


def test_padding_does_not_change_the_loss(tiny):
    model, processor, special = tiny
    distillation = AcftDistillationLoss(copy.deepcopy(model), cache_reference=False)
    short_item, long_item = _items(processor, special, ["hi", "this transcript is much longer than the first"])
    with torch.no_grad():
        alone, _ = distillation.loss(model, collate([short_item], 60, special.eot))
        padded = collate([short_item, long_item], 60, special.eot)
        reference = distillation.reference_states(padded)
        student = distillation.student_states(model, padded)
    first_only = padded.mask.clone()
    first_only[1] = False
    assert float(masked_mse(student, reference, first_only)) == pytest.approx(float(alone), rel=1e-4)


def test_reference_is_computed_once_per_clip_when_cached(tiny):
    model, processor, special = tiny
    items = _items(processor, special, ["one", "two words"])
    cached = AcftDistillationLoss(copy.deepcopy(model))
    uncached = AcftDistillationLoss(copy.deepcopy(model), cache_reference=False)
    with torch.no_grad():
        for n_ctx in (40, 80, 120):
            batch = collate(items, n_ctx, special.eot)
            a, _ = cached.loss(model, batch)
            b, _ = uncached.loss(model, batch)
            assert float(a) == pytest.approx(float(b), rel=1e-5)
    assert cached.reference_forwards == 2
    assert uncached.reference_forwards == 6
    assert not any(p.requires_grad for p in cached.reference.parameters())


def test_gradients_reach_the_encoder_through_the_short_forward(tiny):
    student = copy.deepcopy(tiny[0]).train()
    _, processor, special = tiny
    distillation = AcftDistillationLoss(copy.deepcopy(student))
    loss, _ = distillation.loss(student, collate(_items(processor, special, ["some words"]), 70, special.eot))
    loss.backward()
    encoder = student.get_encoder()
    assert encoder.conv1.weight.grad is not None and float(encoder.conv1.weight.grad.abs().sum()) > 0
    assert float(encoder.layers[-1].fc2.weight.grad.abs().sum()) > 0


def test_probe_takes_each_clips_language(tiny):
    _, processor, special = tiny
    multilingual = dataclasses.replace(special, multilingual=True, lang_to_id={"<|en|>": 50259, "<|de|>": 50261},
                                       task_to_id={"transcribe": 50360, "translate": 50359})
    probe = ProbeTokenizer(processor.tokenizer, multilingual, "en", "transcribe", 448)
    assert probe("hallo", "de-DE")[:3] == [special.sot, 50261, 50360]
    assert probe("hello")[:3] == [special.sot, 50259, 50360]
