"""``whisper-tune train`` and ``whisper-tune config``: help, merged configs, errors."""

from __future__ import annotations

from pathlib import Path

import yaml

from whisper_tune.cli.main import main

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_train_help_lists_the_options(capsys):
    try:
        main(["train", "--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    text = capsys.readouterr().out
    for option in ("--config", "--resume", "--merge", "KEY=VALUE"):
        assert option in text


def test_config_show_prints_the_merged_config(capsys):
    assert main(["config", "show", str(CONFIGS / "tiny_dora.yaml"), "lora.rank=12", "max_steps=5"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["method"] == "dora" and shown["lora"]["rank"] == 12 and shown["max_steps"] == 5
    assert shown["model"] == "embedded:tiny.en"


def test_config_show_without_a_file_takes_overrides(capsys):
    assert main(["config", "show", "train_manifest=x.csv", "method=full"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown["method"] == "full" and shown["learning_rate"] == 1e-3


def test_config_keys_documents_every_key(capsys):
    assert main(["config", "keys"]) == 0
    out = capsys.readouterr().out
    assert "lora.rank (int, default 8): adapter rank r" in out
    assert "encoder_context" in out and "full_context_fraction" in out


def test_bad_key_fails_before_any_work_with_exit_2(capsys, tmp_path):
    code = main(["train", "--config", str(CONFIGS / "tiny_lora.yaml"), f"output_dir={tmp_path}/run",
                 "lora.rnak=3"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown key 'lora.rnak'; did you mean 'lora.rank'" in err
    assert not (tmp_path / "run").exists()


def test_missing_manifest_fails_naming_the_file(capsys, tmp_path):
    code = main(["train", f"train_manifest={tmp_path}/nope.csv", f"output_dir={tmp_path}/run"])
    assert code == 2
    assert "nope.csv" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
