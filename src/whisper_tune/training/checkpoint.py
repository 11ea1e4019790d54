"""Resumable checkpoints: everything a run needs to continue exactly where it stopped.

A checkpoint is a folder ``OUTPUT_DIR/checkpoints/step-NNNNNNN/`` holding

* ``trainable.safetensors`` - the trainable parameters (adapter weights, or every weight for
  full fine-tuning), keyed by their names in the objective's module;
* ``optimizer.pt`` - optimizer and LR-scheduler state dicts and torch's RNG states
  (loaded with ``weights_only=True``: plain tensors and numbers only);
* ``trainer_state.json`` - step, epoch, next micro-batch in the epoch, best score, the
  metrics history, and the Python and NumPy RNG states.

Folders are written atomically (a killed run leaves either a complete checkpoint or none),
and this module is their only reader and writer.
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from whisper_tune.errors import TrainingError
from whisper_tune.fileio import atomic_directory, atomic_write_json

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
WEIGHTS_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step-(\d+)$")
FORMAT_VERSION = 1


@dataclass
class TrainerState:
    """Where a run is: the loop's counters, its best score and what it has logged."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # next micro-batch of this rank's share of the epoch
    samples_seen: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    evals_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def checkpoint_dir(output_dir: Path, step: int) -> Path:
    return Path(output_dir) / CHECKPOINTS / f"step-{step:07d}"


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoint folders in ``output_dir``, oldest first."""
    root = Path(output_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if _STEP_DIR.match(p.name) and (p / STATE_FILE).is_file()]
    return sorted(found, key=lambda p: int(_STEP_DIR.match(p.name).group(1)))  # type: ignore[union-attr]


def latest_checkpoint(output_dir: Path) -> Path | None:
    found = list_checkpoints(output_dir)
    return found[-1] if found else None


def trainable_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that train, detached and contiguous on the CPU (for safetensors)."""
    return {name: p.detach().to("cpu").contiguous().clone()
            for name, p in module.named_parameters() if p.requires_grad}


def save_checkpoint(
    output_dir: Path,
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: TrainerState,
    keep: int,
) -> Path:
    """Write a checkpoint for ``state.step``; keep only the newest ``keep`` ones."""
    from safetensors.torch import save_file

    target = checkpoint_dir(output_dir, state.step)
    with atomic_directory(target) as staging:
        save_file(trainable_state(module), str(staging / WEIGHTS_FILE))
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []},
                   staging / OPTIMIZER_FILE)
        payload = {"format": FORMAT_VERSION, **asdict(state), "rng": _host_rng_state()}
        atomic_write_json(staging / STATE_FILE, payload)
    for old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def load_checkpoint(
    folder: Path, module: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any
) -> TrainerState:
    """Restore weights, optimizer, scheduler and RNG states from ``folder``; returns the state."""
    from safetensors.torch import load_file

    folder = Path(folder)
    for name in (WEIGHTS_FILE, OPTIMIZER_FILE, STATE_FILE):
        if not (folder / name).is_file():
            raise TrainingError(f"{folder}: not a complete checkpoint (missing {name}); "
                                "pick another one under OUTPUT_DIR/checkpoints or start fresh with resume=no")
    payload = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
    if payload.get("format") != FORMAT_VERSION:
        raise TrainingError(f"{folder / STATE_FILE}: checkpoint format {payload.get('format')!r}, "
                            f"expected {FORMAT_VERSION}; it was written by another whisper-tune version")
    _load_trainable(folder / WEIGHTS_FILE, module, load_file)
    blob = torch.load(folder / OPTIMIZER_FILE, map_location="cpu", weights_only=True)
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    torch.set_rng_state(blob["torch_rng"])
    if blob["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(blob["cuda_rng"])
    _set_host_rng_state(payload.pop("rng"))
    payload.pop("format")
    return TrainerState(**payload)


def _load_trainable(file: Path, module: nn.Module, load_file: Any) -> None:
    saved = load_file(str(file))
    params = {name: p for name, p in module.named_parameters() if p.requires_grad}
    if set(saved) != set(params):
        missing = sorted(set(params) - set(saved))[:3]
        extra = sorted(set(saved) - set(params))[:3]
        raise TrainingError(
            f"{file}: the checkpoint's trainable weights do not match this run's (missing {missing}, "
            f"unexpected {extra}); resume with the same model, method and target_modules it was written with"
        )
    with torch.no_grad():
        for name, param in params.items():
            param.copy_(saved[name].to(param.device, param.dtype))


def _host_rng_state() -> dict[str, Any]:
    state = np.random.get_state()
    assert isinstance(state, tuple), "numpy's global generator is MT19937, whose state is a tuple"
    kind, keys, pos, has_gauss, cached = state
    version, py_state, gauss = random.getstate()
    return {"python": [version, list(py_state), gauss],
            "numpy": [kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]}


def _set_host_rng_state(state: dict[str, Any]) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
