"""The demo's wiring: its shipped configs load, and a finished stage is skipped on a rerun
only while its outputs still exist (the whole demo is run by `make demo`, not by tests)."""

from __future__ import annotations

import json

from whisper_tune.acft.config import load_acft_config
from whisper_tune.demo import STAGES, DemoContext, _is_done, demo_config_path, describe_pipeline
from whisper_tune.training.config import load_train_config


def test_shipped_demo_configs_load(tmp_path):
    train = load_train_config(demo_config_path("train.yaml"), [
        f"train_manifest={tmp_path / 't.csv'}", f"validation_manifest={tmp_path / 'v.csv'}"])
    assert train.model == "embedded:tiny.en" and train.method == "lora"
    assert train.encoder_context == "clip"
    acft = load_acft_config(demo_config_path("acft.yaml"), [f"train_manifest={tmp_path / 't.csv'}"])
    assert acft.method == "full" and acft.max_steps > 0


def test_pipeline_runs_every_step_of_the_issue_in_order():
    names = [stage.name for stage in STAGES]
    assert names == ["manifest", "baseline", "train", "finetuned", "glossary", "acft", "acft_eval", "export", "verify",
                     "report"]
    assert describe_pipeline().splitlines()[0].startswith("1. Build and validate")


def test_finished_stage_is_skipped_only_while_its_outputs_exist(tmp_path):
    merged = tmp_path / "merged"
    merged.mkdir()
    ctx = DemoContext(tmp_path, state={"train": {"result": {"merged": str(merged)}, "seconds": 1.0}})
    train = next(stage for stage in STAGES if stage.name == "train")
    assert _is_done(ctx, train)
    merged.rmdir()
    assert not _is_done(ctx, train)
    assert not _is_done(ctx, next(stage for stage in STAGES if stage.name == "export"))
    json.dumps(ctx.state)  # the state must stay JSON-serialisable
