"""Experiment tracking through accelerate's trackers (``report_to``), and metric lines on stderr.

The loop hands every record it writes to ``metrics.jsonl`` to :func:`log_record` too: training
steps as ``train/loss``, ``train/lr``, ``train/samples_per_second`` and evaluations as
``eval/<score>`` (``eval/wer``, ``eval/wer_futo``, ``eval/mse_futo`` ...), each at its
optimizer step. ``report_to: tensorboard`` writes event files under ``output_dir/tracking``;
``wandb`` and ``trackio`` use their own login and settings. :class:`MetricLines` is a tracker
that writes one log line per record: what a cloud run streams to the local terminal.
"""

from __future__ import annotations

import logging
from typing import Any

from whisper_tune.extras import require
from whisper_tune.training.config import LoopConfig

log = logging.getLogger(__name__)

PROJECT_NAME = "whisper-tune"
TRACKING_DIR = "tracking"
#: Record keys that are bookkeeping, not scores.
_NOT_LOGGED = ("event", "step", "epoch")


def accelerator_arguments(config: LoopConfig, extra: list[Any] | None = None) -> dict[str, Any]:
    """``log_with``/``project_dir`` for ``Accelerator(...)``: the configured tracker plus ``extra``."""
    trackers: list[Any] = list(extra or [])
    if config.report_to != "none":
        require(config.report_to, f"report_to={config.report_to}")
        trackers.append(config.report_to)
    if not trackers:
        return {}
    return {"log_with": trackers, "project_dir": str(config.output_dir / TRACKING_DIR)}


def start_tracking(accelerator: Any, config: LoopConfig, hyperparameters: dict[str, Any]) -> None:
    """Open the trackers' run (main process only; a no-op without trackers)."""
    if getattr(accelerator, "log_with", None):
        flat = {key: value for key, value in _flatten(hyperparameters).items()
                if isinstance(value, (int, float, str, bool))}
        accelerator.init_trackers(PROJECT_NAME, config=flat)


def log_record(accelerator: Any, record: dict[str, Any]) -> None:
    """Send one metrics.jsonl record to the trackers, named ``train/...`` or ``eval/...``."""
    if not getattr(accelerator, "trackers", None):
        return
    prefix = "eval/" if record.get("event") == "eval" else "train/"
    values = {prefix + key: float(value) for key, value in record.items()
              if key not in _NOT_LOGGED and isinstance(value, (int, float)) and not isinstance(value, bool)}
    if values:
        accelerator.log(values, step=int(record["step"]))


def end_tracking(accelerator: Any) -> None:
    if getattr(accelerator, "trackers", None):
        accelerator.end_training()


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def metric_lines_tracker() -> Any:
    """A tracker (accelerate ``GeneralTracker``) writing each record as one log line."""
    from accelerate.tracking import GeneralTracker

    class MetricLines(GeneralTracker):
        name = "metric-lines"
        requires_logging_directory = False
        main_process_only = True

        def __init__(self) -> None:
            super().__init__()

        @property
        def tracker(self) -> Any:
            return self

        def store_init_configuration(self, values: dict) -> None:
            return None

        def log(self, values: dict, step: int | None = None, **kwargs: Any) -> None:
            shown = "  ".join(f"{key} {_short(value)}" for key, value in values.items())
            log.info("step %s  %s", step, shown)

    return MetricLines()


def _short(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
