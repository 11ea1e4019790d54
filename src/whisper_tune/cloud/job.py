"""The body of the cloud function: a staged job runs as ``train``/``acft`` would run locally.

:func:`run_job` rebuilds the config from the job spec with its paths under ``root`` (the
Volume's mount point in the container; any folder for ``.local()``), adds a tracker that logs
one line per metrics record (what streams to the local terminal), runs the unchanged
``train``/``run_acft`` with ``resume=auto``, pushes to the Hub when the config says so, and
returns a JSON-able summary. A retry by Modal calls it again with the same spec: the run
continues from its last checkpoint in ``runs/<run>/checkpoints``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from whisper_tune.acft.config import AcftConfig
from whisper_tune.config import from_dict
from whisper_tune.errors import ConfigError
from whisper_tune.hub.push import push_model
from whisper_tune.training.config import TrainConfig
from whisper_tune.training.tracking import metric_lines_tracker

log = logging.getLogger(__name__)


def job_config(spec: dict[str, Any], root: str | Path) -> Any:
    """The TrainConfig/AcftConfig of ``spec`` with its Volume paths placed under ``root``."""
    kind = spec.get("kind")
    cls: type[TrainConfig] | type[AcftConfig]
    if kind == "train":
        cls = TrainConfig
    elif kind == "acft":
        cls = AcftConfig
    else:
        raise ConfigError(f"job spec: unknown kind {kind!r}; expected train or acft")
    data = dict(spec["config"])
    for key, relative in spec["volume_paths"].items():
        data[key] = str(Path(root) / relative)
    return from_dict(cls, data, source=f"cloud job {spec.get('run')}")


def run_job(spec: dict[str, Any], root: str | Path) -> dict[str, Any]:
    """Run the job; returns steps, scores and the result folders relative to the run folder."""
    from whisper_tune.training.loop import make_accelerator

    config = job_config(spec, root)
    log.info("%s run %s: output in %s", spec["kind"], spec["run"], config.output_dir)
    accelerator = make_accelerator(config, extra_trackers=[metric_lines_tracker()])
    summary: dict[str, Any] = {"run": spec["run"], "kind": spec["kind"]}
    result: Any
    if spec["kind"] == "train":
        from whisper_tune.training.recipe import train

        result = train(config, accelerator)
        model_dir = result.merged_dir or result.model_dir
        summary.update(merged_dir=_relative(result.merged_dir, config.output_dir))
    else:
        from whisper_tune.acft.runner import run_acft

        result = run_acft(config, accelerator=accelerator)
        model_dir = result.model_dir
        summary.update(skipped_clips=result.skipped_clips)
    summary.update(steps=result.steps, final_loss=result.final_loss, baseline=dict(result.baseline),
                   final=dict(result.final), model_dir=_relative(result.model_dir, config.output_dir))
    if config.push_to_hub and accelerator.is_main_process:
        pushed = push_model(model_dir, config.push_to_hub, private=config.hub_private)
        summary["pushed"] = pushed.url
    return summary


def _relative(path: Path | None, base: Path) -> str | None:
    if path is None:
        return None
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return str(path)
