"""Plain attention for short-context training under CPU bf16 autocast: when it is chosen,
that it is as accurate as the kernel it replaces, and that the switch is undone."""

from __future__ import annotations

import pytest
import torch

from whisper_tune.models.attention import PLAIN_ATTENTION_MAX_POSITIONS, plain_attention_pays, training_attention
from whisper_tune.models.short_encoder import encode_short

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(tiny_random_dir):
    from whisper_tune.models import load_model

    return load_model(str(tiny_random_dir)).train()


def test_chosen_only_for_a_cpu_bf16_training_forward_of_a_short_context():
    assert not plain_attention_pays(CPU, 100)  # float32: flash is faster from 300 positions on
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert plain_attention_pays(CPU, PLAIN_ATTENTION_MAX_POSITIONS)
        assert not plain_attention_pays(CPU, PLAIN_ATTENTION_MAX_POSITIONS + 1)
        assert not plain_attention_pays(torch.device("cuda"), 100)
        with torch.no_grad():  # evaluation and decoding keep the model's kernel
            assert not plain_attention_pays(CPU, 100)
    with torch.autocast("cpu", dtype=torch.float16):
        assert not plain_attention_pays(CPU, 100)


def test_the_switch_holds_inside_the_block_only(tiny):
    before = tiny.config._attn_implementation
    assert before != "eager"
    layer = tiny.model.decoder.layers[0].encoder_attn
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with training_attention(tiny, CPU, 200):
            assert tiny.config._attn_implementation == layer.config._attn_implementation == "eager"
        assert layer.config._attn_implementation == before
        with pytest.raises(RuntimeError, match="inside"), training_attention(tiny, CPU, 200):
            raise RuntimeError("inside")
        assert layer.config._attn_implementation == before
        with training_attention(tiny, CPU, 1500):
            assert layer.config._attn_implementation == before


def _states_and_grads(model, features, tokens, n_ctx, plain: bool, bf16: bool):
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        if plain:
            with training_attention(model, CPU, n_ctx):
                assert model.config._attn_implementation == "eager"
                states = _forward(model, features, tokens, n_ctx)
        else:
            states = _forward(model, features, tokens, n_ctx)
    (states.float() ** 2).mean().backward()
    grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
    return states.detach().float(), grads


def _forward(model, features, tokens, n_ctx):
    encoded = encode_short(model, features, n_ctx)
    out = model.model.decoder(input_ids=tokens, encoder_hidden_states=encoded, output_hidden_states=True)
    return torch.stack(out.hidden_states, dim=1)


def test_plain_attention_is_as_accurate_as_the_kernel_it_replaces(tiny):
    torch.manual_seed(0)
    n_ctx = 120
    features = torch.randn(3, tiny.config.num_mel_bins, 3000)
    tokens = torch.randint(0, tiny.config.vocab_size, (3, 12))
    exact, exact_grads = _states_and_grads(tiny, features, tokens, n_ctx, plain=False, bf16=False)
    flash, flash_grads = _states_and_grads(tiny, features, tokens, n_ctx, plain=False, bf16=True)
    plain, plain_grads = _states_and_grads(tiny, features, tokens, n_ctx, plain=True, bf16=True)

    def error(a, b):
        return float((a - b).norm() / b.norm())

    assert 0 < error(flash, exact) < 0.05
    assert error(plain, exact) < 2 * error(flash, exact)
    assert error(plain_grads, exact_grads) < 2 * error(flash_grads, exact_grads) + 1e-3


def test_checkpointed_layers_keep_the_models_kernel(tiny_random_dir):
    """A checkpointed layer runs its forward again in backward, after the block: both runs
    must use the same kernel."""
    from whisper_tune.models import load_model
    from whisper_tune.training.activation_checkpointing import enable_gradient_checkpointing

    model = load_model(str(tiny_random_dir)).train()
    enable_gradient_checkpointing(model)
    before = model.config._attn_implementation
    with torch.autocast("cpu", dtype=torch.bfloat16), training_attention(model, CPU, 200):
        assert model.config._attn_implementation == before
