"""The Modal app's per-size presets and the shipped configs for the same sizes agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_tune.acft.config import load_acft_config
from whisper_tune.cloud.layout import GPUS
from whisper_tune.cloud.presets import PRESETS, preset
from whisper_tune.errors import ConfigError
from whisper_tune.training.config import load_train_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
ACFT_CONFIGS = ("base.en", "base", "small.en", "small", "medium.en", "medium")
TRAIN_CONFIGS = {"medium.en": "medium_lora.yaml", "large-v3": "large-v3_lora.yaml",
                 "large-v3-turbo": "large-v3-turbo_lora.yaml"}


@pytest.mark.parametrize("size", ACFT_CONFIGS)
def test_acft_config_matches_the_preset_and_futo_recipe(size):
    config = load_acft_config(CONFIGS / f"acft_{size.replace('.', '_')}.yaml")
    chosen = preset(size)
    assert config.model == chosen.model
    assert (config.batch_size, config.gradient_accumulation_steps) == (chosen.acft_batch, chosen.acft_accumulation)
    assert config.gradient_checkpointing == chosen.checkpointing
    # FUTO's recipe: every parameter, Adam at a constant 1e-6, 8 epochs, no clipping, clips up to 29 s.
    assert (config.method, config.learning_rate, config.lr_schedule, config.epochs) == ("full", 1e-6, "constant", 8)
    assert (config.max_grad_norm, config.max_clip_seconds) == (0.0, 29.0)
    assert config.language == (None if size.endswith(".en") else "en")


@pytest.mark.parametrize(("size", "file"), TRAIN_CONFIGS.items())
def test_train_config_matches_the_preset(size, file):
    config = load_train_config(CONFIGS / file)
    chosen = preset(size)
    assert config.model == chosen.model and config.method == "lora" and config.gradient_checkpointing
    assert (config.batch_size, config.gradient_accumulation_steps) == (chosen.train_batch, chosen.train_accumulation)


@pytest.mark.parametrize("size", PRESETS)
@pytest.mark.parametrize("kind", ["acft", "train"])
def test_every_preset_builds_a_valid_config(size, kind):
    overrides = [*preset(size).overrides(kind), "train_manifest=hf:me/clips"]
    config = (load_acft_config if kind == "acft" else load_train_config)(None, overrides)
    assert config.output_dir == Path(f"runs/{preset(size).entry_stem}_{kind}")
    assert preset(size).gpu in GPUS


def test_unknown_size_names_the_choices():
    with pytest.raises(ConfigError, match="large-v3-turbo"):
        preset("huge")
