"""Training configs: every shipped config loads; bad keys and values fail naming them."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_tune.config import describe
from whisper_tune.errors import ConfigError
from whisper_tune.training.config import TrainConfig, load_train_config

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SHIPPED = sorted(p for p in CONFIGS.iterdir() if p.suffix in (".yaml", ".yml", ".json"))


def test_configs_are_shipped_for_every_size_and_method():
    names = {p.name for p in SHIPPED}
    for size in ("tiny", "base", "small"):
        for method in ("lora", "dora", "pissa", "full"):
            assert f"{size}_{method}.yaml" in names
    assert "train_whisper_lora.json" in names


def _loader(path: Path):
    """The loader `whisper-tune config show --kind ...` uses: acft_* files are ACFT configs."""
    import importlib

    from whisper_tune.cli.config import KINDS

    module, _cls, function = KINDS["acft" if path.name.startswith("acft") else "train"]
    return getattr(importlib.import_module(module), function)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    config = _loader(path)(path, [])
    assert config.output_dir is not None
    stem = path.stem
    if "_" in stem and stem.split("_")[1] in ("lora", "dora", "pissa", "full"):
        assert config.method == stem.split("_")[1]


def test_train_whisper_lora_json_has_the_usual_keys():
    config = load_train_config(CONFIGS / "train_whisper_lora.json")
    assert config.method == "lora" and config.lora.rank == 32 and config.lora.alpha == 64
    assert config.gradient_accumulation_steps == 2 and config.seed == 42


def test_overrides_apply_after_the_file():
    config = load_train_config(CONFIGS / "tiny_lora.yaml", ["lora.rank=4", "method=dora", "max_steps=7",
                                                             "lora.target_modules=decoder.q_proj,fc1"])
    assert (config.lora.rank, config.method, config.max_steps) == (4, "dora", 7)
    assert config.lora.target_modules == ["decoder.q_proj", "fc1"]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lerning_rate=1", r"unknown key 'lerning_rate'; did you mean 'learning_rate'"),
        ("method=qlora", r"method=qlora is not one of 'lora', 'dora', 'pissa', 'full'"),
        ("lora.rank=0", r"lora.rank=0 must be at least 1"),
        ("batch_size=two", r"batch_size=two must be a whole number"),
        ("mixed_precision=fp8", r"mixed_precision=fp8 is not one of"),
        ("full_context_fraction=1.5", r"full_context_fraction=1.5 must be at most 1.0"),
        ("lora.target_modules=q_proj,attn", r"'attn' is not a Whisper linear layer"),
        ("cache_encoder_outputs=true", r"cache_encoder_outputs=true needs a decoder-only method"),
        ("resume=/nonexistent/step-1", r"resume='/nonexistent/step-1': expected no, auto or an existing"),
    ],
)
def test_bad_values_fail_naming_key_value_and_expectation(override, message):
    with pytest.raises(ConfigError, match=message):
        load_train_config(CONFIGS / "tiny_lora.yaml", [override])


def test_train_manifest_is_required():
    with pytest.raises(ConfigError, match="train_manifest is not set"):
        load_train_config(None, [])


def test_decoder_only_cache_is_accepted():
    config = load_train_config(None, ["train_manifest=x.csv", "cache_encoder_outputs=true",
                                      "lora.target_modules=decoder.q_proj,decoder.v_proj"])
    assert config.cache_encoder_outputs


def test_manifests_resolve_relative_to_the_config_file(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.csv").write_text("audio,text\n")
    (tmp_path / "run.yaml").write_text("train_manifest: data/train.csv\n")
    assert load_train_config(tmp_path / "run.yaml").train_manifest == tmp_path / "data" / "train.csv"


def test_every_key_is_documented():
    rows = describe(TrainConfig)
    assert len(rows) > 30
    undocumented = [key for key, _type, _default, text in rows if not text]
    assert undocumented == []
