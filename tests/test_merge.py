"""merge_adapter: LoRA, DoRA and converted PiSSA adapters merge into a folder that decodes alike."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from whisper_tune.errors import ModelSourceError  # noqa: E402 (after importorskip: skip, not fail, without torch or peft)
from whisper_tune.merge import TOKENIZER_FILES, merge_adapter  # noqa: E402 (as above)

#: Merged float32 weights vs the PEFT model computing the adapter separately.
LOGITS_ATOL = 1e-4


def _inputs(config):
    generator = torch.Generator().manual_seed(1)
    features = torch.randn(1, config.num_mel_bins, 3000, generator=generator)
    tokens = torch.tensor([[50257, 50362, 440, 1049, 286, 257]])
    return features, tokens


def _logits(model, config):
    features, tokens = _inputs(config)
    with torch.no_grad():
        return model(input_features=features, decoder_input_ids=tokens).logits


def _train_a_little(peft_model, seed: int) -> None:
    """Stand-in for training: move every adapter weight, deterministically."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.add_(0.05 * torch.randn(param.shape, generator=generator))


def _load_base(base_dir: Path):
    from transformers import WhisperForConditionalGeneration

    return WhisperForConditionalGeneration.from_pretrained(base_dir, dtype=torch.float32).eval()


def _make_adapter(base_dir: Path, out: Path, **lora_kwargs):
    """Save an adapter on ``base_dir`` to ``out``; return the adapted model's logits."""
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        _load_base(base_dir), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], **lora_kwargs)
    )
    _train_a_little(model, seed=3)
    model.save_pretrained(str(out))
    return _logits(model.eval(), model.config)


@pytest.fixture(scope="module")
def base_dir(tiny_random_dir) -> Path:
    return tiny_random_dir


@pytest.mark.parametrize("kind", ["lora", "dora"])
def test_merged_folder_decodes_like_the_adapter(base_dir, tmp_path, kind):
    expected = _make_adapter(base_dir, tmp_path / "adapter", use_dora=kind == "dora")
    merged = merge_adapter(tmp_path / "adapter", tmp_path / "merged")
    for name in ("config.json", "model.safetensors", "generation_config.json", *TOKENIZER_FILES):
        assert (merged / name).is_file(), name
    model = _load_base(merged)
    base_logits = _logits(_load_base(base_dir), model.config)
    got = _logits(model, model.config)
    assert torch.allclose(got, expected, atol=LOGITS_ATOL), (got - expected).abs().max()
    # The adapter must have changed the model, or the comparison above proves nothing.
    assert (base_logits - expected).abs().max() > 100 * LOGITS_ATOL
    marker = json.loads((merged / "config.json").read_text())["whisper_tune"]
    assert marker["merged_adapter"] == str((tmp_path / "adapter").resolve())


@pytest.mark.filterwarnings("ignore:PiSSA changes the base weights")
def test_pissa_converted_merges_into_the_original_base(base_dir, tmp_path):
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(
        _load_base(base_dir),
        LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj"], init_lora_weights="pissa"),
    )
    model.save_pretrained(tmp_path / "initial")  # right after initialisation: the conversion reference
    _train_a_little(model, seed=5)
    expected = _logits(model.eval(), model.config)
    model.save_pretrained(tmp_path / "unconverted")
    model.save_pretrained(tmp_path / "converted", path_initial_model_for_weight_conversion=str(tmp_path / "initial"))

    merged = merge_adapter(tmp_path / "converted", tmp_path / "merged")
    got = _logits(_load_base(merged), model.config)
    assert torch.allclose(got, expected, atol=LOGITS_ATOL), (got - expected).abs().max()

    with pytest.raises(ModelSourceError, match=r"init_lora_weights='pissa'.*path_initial_model_for_weight_conversion"):
        merge_adapter(tmp_path / "unconverted", tmp_path / "refused")
    assert not (tmp_path / "refused").exists()


def test_a_folder_without_adapter_config_is_refused(tmp_path):
    with pytest.raises(ModelSourceError, match=r"no adapter_config\.json"):
        merge_adapter(tmp_path, tmp_path / "out")
