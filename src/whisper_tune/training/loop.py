"""THE training loop, written once for every task (fine-tuning, ACFT).

The loop owns the mechanics: ``accelerate`` (device placement, DDP across processes, mixed
precision), the AdamW optimizer and LR schedule, gradient accumulation with exact loss
scaling, gradient clipping, evaluation hooks with the best result kept and optional early
stopping, resumable checkpoints, the progress bar, ``metrics.jsonl`` and the report. What is
trained, on what, and how it is scored is the :class:`TrainingTask`'s business.

The TrainingTask protocol (the loop calls these, in this order)::

    setup(accelerator) -> nn.Module
        Load models and data; put them on ``accelerator.device``; return the module to
        train. Its ``forward(batch)`` returns the SUM of the per-unit losses of the batch (a
        0-dim tensor); its parameters with ``requires_grad`` are the ones optimised, and
        their names key the checkpoints. Called once, on every rank.
    batch_plan(epoch) -> list[list[int]]
        All micro-batches of one epoch as lists of example indices. Must be deterministic
        in (seed, epoch): a resumed run re-creates the plan and skips what was done.
    collate(indices, step) -> batch
        The batch for those indices, on ``accelerator.device``: a dict with an int ``size``
        (clips in it) and whatever the module's forward reads. ``step`` = optimizer steps
        done, for per-step choices such as a context mix (use no global RNG for them).
    loss_units(batch) -> int
        How many units the batch's loss sums over (label tokens for cross-entropy), known
        before the forward pass. The step's loss is sum(losses) / sum(units) over all its
        micro-batches on all ranks: a token-weighted mean, not a mean of batch means.
    evaluate(module) -> dict[str, float]
        Score the (unwrapped) module; main process only; must contain ``metric``.
    save(module, out_dir)
        Write the deliverable (adapter or full model) into the new folder ``out_dir``.
    metric: str
        The ``evaluate`` key to minimise (e.g. "wer"); the best result is saved by it.
    summary_info() -> dict[str, str]
        A few lines for summary.md (model, method, data sizes).

Outputs (main process only) in ``config.output_dir``: ``best/`` (the best evaluated result;
evaluation runs before the first step, every ``eval_every`` steps and after the last),
``last/`` (the result after the last step), ``checkpoints/step-N/`` (resumable),
``metrics.jsonl``, ``loss.png``, ``metric.png``, ``summary.md`` and ``config.yaml``.

Data parallelism: every rank builds the same plan; rank r takes micro-batches r, r+N, ...
(the plan is cut to a multiple of N so that all ranks take the same number of steps).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import torch
from torch import nn

from whisper_tune.config import to_dict
from whisper_tune.devices import (
    attention_for_varying_shapes,
    cpu_has_native_bf16,
    pick_device,
    supported_precision,
)
from whisper_tune.errors import TrainingError
from whisper_tune.fileio import atomic_directory, atomic_write_text
from whisper_tune.training.checkpoint import (
    TrainerState,
    latest_checkpoint,
    load_checkpoint,
    save_checkpoint,
)
from whisper_tune.training.config import LoopConfig
from whisper_tune.training.report import write_report
from whisper_tune.training.tracking import accelerator_arguments, end_tracking, log_record, start_tracking

if TYPE_CHECKING:  # rich is imported only when a bar is shown
    from rich.progress import Progress, TaskID

log = logging.getLogger(__name__)

BEST_DIR = "best"
LAST_DIR = "last"
METRICS_FILE = "metrics.jsonl"


@runtime_checkable
class TrainingTask(Protocol):
    """What the loop trains; see the module docstring for the contract of each member."""

    metric: str

    def setup(self, accelerator: Any) -> nn.Module: ...

    def batch_plan(self, epoch: int) -> list[list[int]]: ...

    def collate(self, indices: Sequence[int], step: int) -> Any: ...

    def loss_units(self, batch: Any) -> int: ...

    def evaluate(self, module: nn.Module) -> dict[str, float]: ...

    def save(self, module: nn.Module, out_dir: Path) -> None: ...

    def summary_info(self) -> dict[str, str]: ...


@dataclass
class LoopResult:
    """What a finished run produced."""

    output_dir: Path
    steps: int
    final_loss: float | None
    best_dir: Path | None  # None when nothing was evaluated
    last_dir: Path
    best_metric: float | None
    baseline: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    stopped_early: bool = False
    samples_per_second: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model_dir(self) -> Path:
        """The deliverable: the best evaluated result, else the last."""
        return self.best_dir if self.best_dir is not None else self.last_dir


def make_accelerator(config: LoopConfig, extra_trackers: list[Any] | None = None) -> Any:
    """An ``accelerate.Accelerator`` for the configured device, precision and trackers."""
    from accelerate import Accelerator

    cpu = config.device == "cpu"
    device = torch.device("cpu") if cpu else pick_device(None if config.device == "auto" else config.device)
    precision = supported_precision(device, config.mixed_precision)
    if device.type == "cpu" and config.mixed_precision == "auto" and cpu_has_native_bf16():
        log.info("training in float32 (mixed_precision=auto on a CPU); this CPU computes bf16 natively, and "
                 "mixed_precision=bf16 trains about twice as fast at the same held-out WER (docs/BENCHMARKS.md)")
    _forget_single_process_precision(precision)
    return Accelerator(cpu=cpu or device.type == "cpu", mixed_precision=precision,
                       **accelerator_arguments(config, extra_trackers))


def _forget_single_process_precision(precision: str) -> None:
    """Let one process train twice with different precisions (e.g. ``train`` then ``acft``).

    accelerate keeps the first Accelerator's precision in a process-wide state and refuses
    another. Outside a multi-process launch nothing else shares that state, so it is cleared.
    """
    from accelerate.state import AcceleratorState, PartialState

    shared = AcceleratorState._shared_state
    if shared and shared.get("_mixed_precision") != precision and PartialState().num_processes == 1:
        AcceleratorState._reset_state()


def make_optimizer(params: list[nn.Parameter], config: LoopConfig, device: torch.device) -> torch.optim.Optimizer:
    """AdamW with the implementation ``config.optimizer`` names.

    ``auto`` is the fused kernel wherever torch has one for the device (CUDA, and the CPU since
    torch 2.4): one pass over all parameters instead of a Python loop of small kernels. On
    tiny.en's 38M parameters on the CPU a fused step took 0.18 s, the default for-loop 1.8 s
    and foreach 3.0 s (docs/BENCHMARKS.md, "Training").
    """
    choice = config.optimizer
    if choice == "auto":
        choice = "fused" if _fused_adamw_supported(device) else "foreach" if device.type == "cuda" else "for-loop"
    log.debug("AdamW implementation: %s on %s", choice, device)
    return torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay,
                             fused=choice == "fused" or None, foreach=choice == "foreach")


def _fused_adamw_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return True
    if device.type == "cpu":
        major, minor = (int(part) for part in torch.__version__.split(".")[:2])
        return (major, minor) >= (2, 4)
    return False


def run_loop(
    task: TrainingTask,
    config: LoopConfig,
    accelerator: Any = None,
    config_yaml: str | None = None,
    on_step: Callable[[TrainerState], None] | None = None,
) -> LoopResult:
    """Train ``task`` under ``config``; returns what it produced (on every rank)."""
    from accelerate.utils import set_seed

    accelerator = accelerator or make_accelerator(config)
    output_dir = Path(config.output_dir)
    resume_from = _resume_source(config, output_dir)
    set_seed(config.seed)
    module = task.setup(accelerator)
    params = [p for p in module.parameters() if p.requires_grad]
    if not params:
        raise TrainingError("the task's module has no trainable parameters; check method/target_modules")
    optimizer = make_optimizer(params, config, accelerator.device)
    plan_len = _rank_plan_len(task, 0, accelerator.num_processes)
    if plan_len == 0:
        raise TrainingError(f"the training data gives no batches for {accelerator.num_processes} processes; "
                            "add clips or lower batch_size")
    steps_per_epoch = math.ceil(plan_len / config.gradient_accumulation_steps)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, total_steps))
    wrapped, optimizer = accelerator.prepare(module, optimizer)
    state = TrainerState()
    if resume_from is not None:
        state = load_checkpoint(resume_from, module, optimizer, scheduler)
        log.info("resumed from %s (step %d, epoch %d, batch %d)", resume_from, state.step, state.epoch,
                 state.batch_in_epoch)
    runner = _Runner(task, config, accelerator, module, wrapped, optimizer, scheduler, state,
                     total_steps, on_step)
    if accelerator.is_main_process:
        output_dir.mkdir(parents=True, exist_ok=True)
        if config_yaml is not None:
            atomic_write_text(output_dir / "config.yaml", config_yaml)
        start_tracking(accelerator, config, to_dict(config))
    return runner.run()


class _Runner:
    """One run's mutable state; split out so each phase is a small method."""

    def __init__(self, task, config, accelerator, module, wrapped, optimizer, scheduler, state,
                 total_steps, on_step) -> None:
        self.task = task
        self.config = config
        self.acc = accelerator
        self.module = module
        self.wrapped = wrapped
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.state: TrainerState = state
        self.total_steps = total_steps
        self.on_step = on_step
        self.output_dir = Path(config.output_dir)
        self.stop = False
        self.stopped_early = False
        self.last_loss: float | None = None
        self.window_loss = torch.zeros((), device=accelerator.device)  # summed loss since the last report
        self.window_units = 0.0
        self.train_seconds = 0.0
        self.train_samples = 0

    # --- phases -------------------------------------------------------------------------

    def run(self) -> LoopResult:
        if self.state.step == 0 and not self._evaluated_at(0):
            self._evaluate()
        with _ProgressBar(self.acc.is_main_process and self.config.progress, self.total_steps,
                       self.state.step) as bar, attention_for_varying_shapes(self.acc.device):
            while self.state.step < self.total_steps and not self.stop:
                self._one_step(bar)
        if not self._evaluated_at(self.state.step):
            self._evaluate()
        if not (self.config.save_every and self.state.step % self.config.save_every == 0):
            self._checkpoint()  # the end is always resumable (e.g. to train for more steps)
        return self._finish()

    def _one_step(self, bar) -> None:
        started = time.perf_counter()
        batches = self._next_micro_batches()
        units = self._global_units(batches)
        loss_sum = torch.zeros((), device=self.acc.device)
        for index, batch in enumerate(batches):
            sync = index == len(batches) - 1
            with (self.acc.no_sync(self.wrapped) if not sync else contextlib.nullcontext()), self.acc.autocast():
                loss = self.wrapped(batch)
            # DDP averages gradients over ranks, so scale by N to get sum / global units.
            self.acc.backward(loss * self.acc.num_processes / units)
            loss_sum += loss.detach().float()
        if self.config.max_grad_norm > 0:
            self.acc.clip_grad_norm_(self.module.parameters(), self.config.max_grad_norm)
        lr = self.scheduler.get_last_lr()[0]  # the rate this step used
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        n_samples = self._count_samples(batches)
        self.state.step += 1
        self.state.samples_seen += n_samples
        self.window_loss += loss_sum
        self.window_units += units
        if self._reports_now():
            # Reading the loss waits for the device (a sync), so only steps that report it do;
            # the reported loss is the token-weighted mean over the steps since the last report.
            self.last_loss = float(self.acc.reduce(self.window_loss, reduction="sum")) / self.window_units
            self.window_loss, self.window_units = torch.zeros((), device=self.acc.device), 0.0
        elapsed = time.perf_counter() - started
        self.train_seconds += elapsed
        self.train_samples += n_samples
        self._after_step(bar, lr, n_samples / max(elapsed, 1e-9))

    def _reports_now(self) -> bool:
        """Whether this step's loss is logged, shown or evaluated (the others stay on the device)."""
        step, cfg = self.state.step, self.config
        return (step % cfg.log_every == 0 or step == self.total_steps
                or bool(cfg.eval_every and step % cfg.eval_every == 0)
                or bool(cfg.save_every and step % cfg.save_every == 0) or self.on_step is not None)

    def _after_step(self, bar, lr: float, samples_per_second: float) -> None:
        step = self.state.step
        if self._reports_now() and self.last_loss is not None:
            self._record({"step": step, "epoch": self.state.epoch, "loss": round(self.last_loss, 6),
                          "lr": lr, "samples_per_second": round(samples_per_second, 3),
                          "samples_seen": self.state.samples_seen})
        bar.update(step, self.last_loss, lr, samples_per_second)  # the last reported loss: no sync
        if self.config.eval_every and step % self.config.eval_every == 0 and step < self.total_steps:
            self._evaluate()
        if self.config.save_every and step % self.config.save_every == 0:
            self._checkpoint()
        if self.on_step is not None:
            self.on_step(self.state)

    def _next_micro_batches(self) -> list[Any]:
        """The micro-batches of the next optimizer step, moving to the next epoch as needed."""
        plan = self._rank_plan(self.state.epoch)
        if self.state.batch_in_epoch >= len(plan):
            self.state.epoch += 1
            self.state.batch_in_epoch = 0
            plan = self._rank_plan(self.state.epoch)
        start = self.state.batch_in_epoch
        chosen = plan[start : start + self.config.gradient_accumulation_steps]
        self.state.batch_in_epoch = start + len(chosen)
        return [self.task.collate(indices, self.state.step) for indices in chosen]

    def _rank_plan(self, epoch: int) -> list[list[int]]:
        plan = self.task.batch_plan(epoch)
        usable = len(plan) - len(plan) % self.acc.num_processes
        return plan[self.acc.process_index : usable : self.acc.num_processes]

    def _global_units(self, batches: list[Any]) -> float:
        mine = float(sum(self.task.loss_units(b) for b in batches))
        if self.acc.num_processes == 1:
            total = mine  # no all-reduce (and no device round trip) for a single process
        else:
            total = float(self.acc.reduce(torch.tensor(mine, device=self.acc.device), reduction="sum"))
        if total <= 0:
            raise TrainingError("a training step has no loss units (no label tokens); check the transcripts")
        return total

    def _count_samples(self, batches: list[Any]) -> int:
        mine = sum(_batch_size(b) for b in batches)
        if self.acc.num_processes == 1:
            return mine
        return int(self.acc.reduce(torch.tensor(float(mine), device=self.acc.device), reduction="sum"))

    # --- evaluation, checkpoints, outputs -------------------------------------------------

    def _evaluated_at(self, step: int) -> bool:
        return any(r.get("event") == "eval" and r["step"] == step for r in self.state.history)

    def _evaluate(self) -> None:
        from accelerate.utils import broadcast_object_list

        decision = [False]
        if self.acc.is_main_process:
            decision = [self._evaluate_main()]
        if self.acc.num_processes > 1:
            broadcast_object_list(decision)
        self.stop = self.stop or decision[0]
        self.stopped_early = self.stopped_early or decision[0]

    def _evaluate_main(self) -> bool:
        """Evaluate, keep the best result; returns True when early stopping says stop."""
        was_training = self.module.training
        self.module.eval()
        started = time.perf_counter()
        scores = self.task.evaluate(self.module)
        self.module.train(was_training)
        if not scores:
            return False
        metric = self.task.metric
        if metric not in scores:
            raise TrainingError(f"the task's evaluate() returned {sorted(scores)} without its metric {metric!r}")
        self._record({"event": "eval", "step": self.state.step, **scores,
                      "eval_seconds": round(time.perf_counter() - started, 2)})
        value = float(scores[metric])
        if self.state.best_metric is None or value < self.state.best_metric:
            self.state.best_metric, self.state.best_step = value, self.state.step
            self.state.evals_without_improvement = 0
            self._save_result(self.output_dir / BEST_DIR)
            return False
        self.state.evals_without_improvement += 1
        patience = self.config.early_stopping_patience
        if patience and self.state.evals_without_improvement >= patience:
            log.info("early stopping: %s has not improved for %d evaluations", metric, patience)
            return True
        return False

    def _save_result(self, target: Path) -> None:
        with atomic_directory(target) as staging:
            self.task.save(self.module, staging)

    def _checkpoint(self) -> None:
        if self.acc.is_main_process:
            save_checkpoint(self.output_dir, self.module, self.optimizer, self.scheduler, self.state,
                            self.config.keep_checkpoints)
        self.acc.wait_for_everyone()

    def _record(self, record: dict[str, Any]) -> None:
        if not self.acc.is_main_process:
            return
        import json

        self.state.history.append(record)
        lines = "".join(json.dumps(r, sort_keys=False) + "\n" for r in self.state.history)
        atomic_write_text(self.output_dir / METRICS_FILE, lines)
        log_record(self.acc, record)

    def _finish(self) -> LoopResult:
        evals = [r for r in self.state.history if r.get("event") == "eval"]
        result = LoopResult(
            output_dir=self.output_dir,
            steps=self.state.step,
            final_loss=self.last_loss if self.last_loss is not None else _last_loss(self.state.history),
            best_dir=self.output_dir / BEST_DIR if evals else None,
            last_dir=self.output_dir / LAST_DIR,
            best_metric=self.state.best_metric,
            baseline=_scores(evals[0]) if evals else {},
            final=_scores(evals[-1]) if evals else {},
            stopped_early=self.stopped_early,
            samples_per_second=self.train_samples / self.train_seconds if self.train_seconds else 0.0,
            history=list(self.state.history),
        )
        if self.acc.is_main_process:
            self._save_result(result.last_dir)
            write_report(result, self.task.metric, self.task.summary_info())
            end_tracking(self.acc)
        self.acc.wait_for_everyone()
        return result


def _scores(record: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in record.items() if k not in ("event", "step", "eval_seconds")}


def _last_loss(history: list[dict[str, Any]]) -> float | None:
    losses = [r["loss"] for r in history if "loss" in r]
    return losses[-1] if losses else None


def _resume_source(config: LoopConfig, output_dir: Path) -> Path | None:
    if config.resume == "auto":
        return latest_checkpoint(output_dir)
    if config.resume != "no":
        return Path(config.resume)
    if latest_checkpoint(output_dir) is not None:
        raise TrainingError(
            f"{output_dir} already holds checkpoints of an earlier run; continue it with resume=auto "
            "(`resume`), or choose another output_dir"
        )
    return None


def _rank_plan_len(task: TrainingTask, epoch: int, processes: int) -> int:
    return len(task.batch_plan(epoch)) // processes


def _batch_size(batch: Any) -> int:
    size = getattr(batch, "size", None)
    if isinstance(size, int):
        return size
    if isinstance(batch, dict) and "size" in batch:
        return int(batch["size"])
    raise TrainingError("collate() must return a batch with an int 'size' (number of clips)")


def _schedule(config: LoopConfig, total_steps: int) -> Callable[[int], float]:
    """LR multiplier per step: linear warm-up, then constant, linear or cosine decay to 0."""
    warmup = config.warmup_steps
    kind = config.lr_schedule

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / (warmup + 1)
        if kind == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        return 1.0 - progress if kind == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


class _NoBar:
    def update(self, *args: Any) -> None:
        return None


class _ProgressBar:
    """A rich bar showing loss, learning rate, samples/s and the time left (or nothing)."""

    def __init__(self, enabled: bool, total: int, done: int) -> None:
        self.enabled, self.total, self.done = enabled, total, done
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _ProgressBar | _NoBar:
        if not self.enabled:
            return _NoBar()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.progress = Progress(
            TextColumn("train"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[sps]} samples/s"),
            TimeRemainingColumn(), console=Console(stderr=True), transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=self.total, completed=self.done,
                                           loss="-", lr="-", sps="-")
        return self

    def update(self, step: int, loss: float | None, lr: float, samples_per_second: float) -> None:
        assert self.progress is not None and self.task is not None, "update() outside the with block"
        self.progress.update(self.task, completed=step, loss="-" if loss is None else f"{loss:.4f}", lr=f"{lr:.2e}",
                             sps=f"{samples_per_second:.1f}")

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
