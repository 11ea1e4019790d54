"""report_to: loss, learning rate and every evaluation reach accelerate's trackers."""

from __future__ import annotations

import json

import pytest

from tests.training.test_loop import LeastSquares, _config
from whisper_tune.errors import ConfigError, MissingDependencyError
from whisper_tune.training.config import LoopConfig
from whisper_tune.training.loop import run_loop
from whisper_tune.training.tracking import metric_lines_tracker


def _scalars(folder) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import (  # type: ignore[import-untyped]
        EventAccumulator,
    )

    events = sorted(folder.rglob("events.out.tfevents.*"))
    assert events, f"no TensorBoard event file under {folder}"
    found: dict[str, list[tuple[int, float]]] = {}
    for event_file in events:
        accumulator = EventAccumulator(str(event_file))
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in accumulator.Scalars(tag))
    return found


def test_tensorboard_receives_loss_lr_and_every_evaluation(tmp_path):
    pytest.importorskip("tensorboard")
    config = _config(tmp_path, epochs=1, eval_every=4, report_to="tensorboard")
    result = run_loop(LeastSquares(), config)
    scalars = _scalars(tmp_path / "run" / "tracking")
    history = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    losses = [(r["step"], r["loss"]) for r in history if "loss" in r]
    assert [step for step, _ in scalars["train/loss"]] == [step for step, _ in losses] == list(range(1, 9))
    assert [round(v, 5) for _, v in scalars["train/loss"]] == [round(v, 5) for _, v in losses]
    assert [v for _, v in scalars["train/lr"]] == pytest.approx([0.05] * 8)
    evaluations = [(r["step"], r["mse"]) for r in history if r.get("event") == "eval"]
    assert [step for step, _ in scalars["eval/mse"]] == [step for step, _ in evaluations] == [0, 4, 8]
    assert scalars["eval/mse"][-1][1] == pytest.approx(result.final["mse"], rel=1e-6)


def test_no_tracker_by_default(tmp_path):
    run_loop(LeastSquares(), _config(tmp_path, epochs=1))
    assert not (tmp_path / "run" / "tracking").exists()


def test_metric_lines_are_logged_per_record(tmp_path, caplog):
    from whisper_tune.training.loop import make_accelerator

    config = _config(tmp_path, epochs=1, eval_every=4)
    with caplog.at_level("INFO", logger="whisper_tune.training.tracking"):
        run_loop(LeastSquares(), config, make_accelerator(config, extra_trackers=[metric_lines_tracker()]))
    lines = [r.getMessage() for r in caplog.records if r.name == "whisper_tune.training.tracking"]
    assert sum("train/loss" in line for line in lines) == 8
    assert [line.split()[1] for line in lines if "eval/mse" in line] == ["0", "4", "8"]


def test_unknown_tracker_is_refused():
    from whisper_tune.config import load_config

    with pytest.raises(ConfigError, match="report_to=mlflow is not one of"):
        load_config(LoopConfig, None, ["report_to=mlflow"])


def test_a_missing_tracker_package_names_the_pip_command(tmp_path):
    from whisper_tune.extras import available

    if available("wandb"):
        pytest.skip("wandb is installed here")
    with pytest.raises(MissingDependencyError, match=r"pip install 'wandb'"):
        run_loop(LeastSquares(), _config(tmp_path, report_to="wandb"))
