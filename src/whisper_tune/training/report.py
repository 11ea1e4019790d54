"""The human-readable end of a run: loss and metric plots (PNG) and ``summary.md``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from whisper_tune.fileio import atomic_open, atomic_write_text

if TYPE_CHECKING:
    from whisper_tune.training.loop import LoopResult

log = logging.getLogger(__name__)

LOSS_PLOT = "loss.png"
METRIC_PLOT = "metric.png"
SUMMARY = "summary.md"


def write_report(result: LoopResult, metric: str, info: dict[str, str]) -> None:
    """Write ``loss.png``, ``metric.png`` (when evaluated) and ``summary.md`` into the run folder."""
    out = Path(result.output_dir)
    losses = [(r["step"], r["loss"]) for r in result.history if "loss" in r and r.get("event") is None]
    evals = [r for r in result.history if r.get("event") == "eval"]
    if losses:
        plot_series(out / LOSS_PLOT, {"training loss": losses}, "optimizer step", "loss (per label unit)")
    keys = [k for k in evals[0] if _plottable(k, evals[0][k])] if evals else []
    if evals and keys:
        series = {k: [(r["step"], r[k]) for r in evals if k in r] for k in keys}
        plot_series(out / METRIC_PLOT, series, "optimizer step", "score (lower is better)")
    atomic_write_text(out / SUMMARY, summary_markdown(result, metric, info))


def _plottable(key: str, value: Any) -> bool:
    return key not in ("event", "step", "eval_seconds") and isinstance(value, (int, float))


def plot_series(path: Path, series: dict[str, list[tuple[float, float]]], xlabel: str, ylabel: str) -> None:
    """One line per series on a single axis (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4), dpi=100)
    axis = figure.subplots()
    for label, points in series.items():
        if points:
            xs, ys = zip(*points, strict=True)
            axis.plot(xs, ys, marker="o" if len(points) < 30 else None, label=label)
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_open(path, "wb") as handle:
        figure.savefig(handle, format="png")


def summary_markdown(result: LoopResult, metric: str, info: dict[str, str]) -> str:
    lines = ["# Training summary", ""]
    lines += [f"- {key}: {value}" for key, value in info.items()]
    lines += [f"- optimizer steps: {result.steps}" + (" (stopped early)" if result.stopped_early else ""),
              f"- final training loss: {_fmt(result.final_loss)}",
              f"- training throughput: {result.samples_per_second:.2f} samples/s", ""]
    if result.baseline:
        lines += ["| score | baseline (step 0) | final | best |", "|---|---|---|---|"]
        best = next((r for r in result.history if r.get("event") == "eval"
                     and r.get(metric) == result.best_metric), result.final)
        for key, before in result.baseline.items():
            if isinstance(before, (int, float)):
                lines.append(f"| {key} | {_fmt(before)} | {_fmt(result.final.get(key))} | {_fmt(best.get(key))} |")
        lines += ["", f"Best {metric}: {_fmt(result.best_metric)} at step {_best_step(result, metric)}; "
                  f"that model is in `{result.model_dir.name}/`, the last one in `{result.last_dir.name}/`."]
    else:
        lines.append(f"No validation data: the result is the model after the last step, in `{result.last_dir.name}/`.")
    return "\n".join(lines) + "\n"


def _best_step(result: LoopResult, metric: str) -> Any:
    for record in result.history:
        if record.get("event") == "eval" and record.get(metric) == result.best_metric:
            return record["step"]
    return "?"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)
