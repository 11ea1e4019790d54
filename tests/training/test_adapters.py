"""One contract for every method: the right weights train, and what is saved loads back
(through whisper_tune.models.load_model, merged into the ORIGINAL base) as the trained model."""

from __future__ import annotations

import json
import re

import pytest
import torch

from whisper_tune.models import load_model
from whisper_tune.training.activation_checkpointing import enable_gradient_checkpointing
from whisper_tune.training.adapters import apply_method, save_trained, target_pattern, trainable_names
from whisper_tune.training.config import LoraConfig
from whisper_tune.training.recipe import WhisperLoss

METHODS = ("lora", "dora", "pissa", "full")
#: Saved-and-merged vs in-memory logits (float32; DoRA's merge renormalises, so a little looser).
LOGITS_ATOL = {"lora": 1e-4, "dora": 5e-4, "pissa": 1e-4, "full": 1e-5}


def _load(folder):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(folder, dtype=torch.float32)


def _batch(n_ctx: int = 40):
    generator = torch.Generator().manual_seed(0)
    tokens = torch.tensor([[50257, 50362, 440, 1049, 286], [50257, 50362, 257, 1332, 50256]])
    labels = torch.tensor([[50362, 440, 1049, 286, 50256], [50362, 257, 1332, 50256, -100]])
    # The loss projects only the real labels' rows, as the collate function lists them.
    positions = (labels.reshape(-1) != -100).nonzero().squeeze(1)
    return {"input_features": torch.randn(2, 80, 2 * n_ctx, generator=generator), "n_ctx": n_ctx,
            "decoder_input_ids": tokens, "labels": labels, "ids": ["a", "b"], "size": 2,
            "label_positions": positions, "label_targets": labels.reshape(-1)[positions]}


def _logits(model, batch):
    model.eval()
    with torch.no_grad():
        features = torch.nn.functional.pad(batch["input_features"], (0, 3000 - batch["input_features"].shape[-1]))
        return model(input_features=features, decoder_input_ids=batch["decoder_input_ids"]).logits


def _train(adapted, steps: int = 4) -> None:
    module = WhisperLoss(adapted.model, adapted.whisper).train()
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(steps):
        loss = module(_batch())
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


@pytest.mark.parametrize("method", METHODS)
def test_method_contract(method, tiny_random_dir, tmp_path):
    torch.manual_seed(0)
    lora = LoraConfig(rank=4, alpha=8, target_modules=["q_proj", "decoder.fc1"])
    adapted = apply_method(_load(tiny_random_dir), method, lora, tmp_path)
    names = trainable_names(adapted)
    if method == "full":
        assert len(names) == sum(1 for _ in adapted.model.parameters()) - 1  # all but encoder positions
    else:
        leaves = {re.sub(r"\.(lora_\w+|base_layer)\..*", "", n) for n in names}
        assert all(n.endswith(("q_proj", "decoder.layers.0.fc1", "decoder.layers.1.fc1")) for n in leaves), leaves
        assert any(".encoder." in n for n in leaves) and any("decoder.layers.1.fc1" in n for n in leaves)
        assert not any("encoder" in n and "fc1" in n for n in leaves)
        assert all("lora_" in n for n in names)
        assert any("magnitude" in n for n in names) == (method == "dora")
    _train(adapted)
    batch = _batch()
    expected = _logits(adapted.model, batch)
    flags = trainable_names(adapted)
    out = save_trained(adapted, tmp_path / "out", str(tiny_random_dir), tiny_random_dir)
    assert trainable_names(adapted) == flags  # saving (PiSSA conversion) must not freeze anything
    if method != "full":
        config = json.loads((out / "adapter_config.json").read_text())
        assert config["base_model_name_or_path"] == str(tiny_random_dir.resolve())
    got = _logits(load_model(str(out)), batch)
    assert (got - expected).abs().max() < LOGITS_ATOL[method]
    base = _logits(_load(tiny_random_dir), batch)
    assert (base - expected).abs().max() > 100 * LOGITS_ATOL[method]  # training changed the model


def test_target_pattern_restricts_sides():
    pattern = target_pattern(["decoder.q_proj", "fc2"])
    assert re.fullmatch(pattern, "model.decoder.layers.3.self_attn.q_proj")
    assert re.fullmatch(pattern, "model.decoder.layers.3.encoder_attn.q_proj")
    assert not re.fullmatch(pattern, "model.encoder.layers.3.self_attn.q_proj")
    assert re.fullmatch(pattern, "model.encoder.layers.0.fc2")
    assert not re.fullmatch(pattern, "model.encoder.layers.0.fc1")


def test_gradient_checkpointing_reaches_frozen_input_adapters(tiny_random_dir, tmp_path):
    """With every base weight frozen, checkpointed layers still give the adapters their gradients,
    the same ones as without checkpointing (the conv1 and embedding hooks)."""
    grads = []
    for checkpointing in (False, True):
        torch.manual_seed(0)
        adapted = apply_method(_load(tiny_random_dir), "lora", LoraConfig(rank=4, target_modules=["q_proj"]), tmp_path)
        with torch.no_grad():
            for name, param in adapted.model.named_parameters():
                if "lora_B" in name:
                    param.fill_(0.01)  # B starts at zero: make A's gradient non-zero too
        if checkpointing:
            enable_gradient_checkpointing(adapted.whisper)
        module = WhisperLoss(adapted.model, adapted.whisper).train()
        for n_ctx in (40, 1500):  # short (our encoder forward) and full (the HF encoder)
            module(_batch(n_ctx)).backward()
        trainable = {n: p.grad for n, p in module.named_parameters() if p.requires_grad}
        missing = [n for n, grad in trainable.items() if grad is None]
        assert not missing, f"no gradient reached {missing[:3]}"
        grads.append({n: grad.clone() for n, grad in trainable.items() if grad is not None})
    plain, checkpointed = grads
    encoder_a = [n for n in plain if ".encoder." in n and "lora_A" in n]
    assert encoder_a and all(plain[n].abs().sum() > 0 for n in encoder_a)
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n_ctx, expected", [(40, "eager"), (1500, "sdpa")])
def test_whisper_loss_trains_short_contexts_with_plain_attention_under_cpu_bf16(tiny_random_dir, n_ctx, expected):
    """whisper_tune.models.attention: plain attention for short contexts under CPU bf16
    autocast, the model's own kernel otherwise and after the step."""
    whisper = _load(tiny_random_dir)
    whisper.config._attn_implementation = "sdpa"
    seen: list[str] = []
    layer = whisper.model.decoder.layers[0].encoder_attn
    layer.register_forward_pre_hook(lambda module, _args: seen.append(module.config._attn_implementation))
    module = WhisperLoss(whisper, whisper).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = module(_batch(n_ctx))
    loss.backward()
    assert seen == [expected] and whisper.config._attn_implementation == "sdpa"
    assert torch.isfinite(loss) and whisper.model.encoder.conv1.weight.grad is not None
