"""The generic loop on a small least-squares objective: accumulation, resume, early stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from whisper_tune.errors import TrainingError
from whisper_tune.training.checkpoint import list_checkpoints
from whisper_tune.training.config import LoopConfig
from whisper_tune.training.loop import TrainingTask, run_loop


class _Sum(nn.Module):
    """forward(batch) -> sum of squared errors of a linear map (units = rows)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 1)

    def forward(self, batch):
        return ((self.linear(batch["x"]).squeeze(-1) - batch["y"]) ** 2).sum()


class LeastSquares:
    """A real objective (not a mock of our code): fit y = x . w on 24 fixed points."""

    metric = "mse"

    def __init__(self, seed: int = 0, batch: int = 3, eval_scores: list[float] | None = None) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.x = torch.randn(24, 4, generator=generator)
        self.y = self.x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
        self.batch = batch
        self.eval_scores = eval_scores
        self.evaluations = 0

    def setup(self, accelerator):
        self.module = _Sum()
        return self.module

    def batch_plan(self, epoch):
        order = torch.randperm(24, generator=torch.Generator().manual_seed(1000 + epoch)).tolist()
        return [order[i : i + self.batch] for i in range(0, 24, self.batch)]

    def collate(self, indices, step):
        return {"x": self.x[indices], "y": self.y[indices], "size": len(indices)}

    def loss_units(self, batch):
        return batch["size"]

    def evaluate(self, module):
        self.evaluations += 1
        if self.eval_scores is not None:
            return {"mse": self.eval_scores[min(self.evaluations - 1, len(self.eval_scores) - 1)]}
        with torch.no_grad():
            return {"mse": float(module({"x": self.x, "y": self.y}) / 24)}

    def save(self, module, out_dir: Path):
        torch.save(module.state_dict(), out_dir / "weights.pt")

    def summary_info(self):
        return {"objective": "least squares"}


def _config(tmp_path, **kw) -> LoopConfig:
    base = dict(output_dir=tmp_path / "run", learning_rate=0.05, epochs=3, batch_size=3, device="cpu",
                progress=False, lr_schedule="constant", log_every=1, mixed_precision="no")
    base.update(kw)
    return LoopConfig(**base)


def test_least_squares_objective_satisfies_the_protocol():
    assert isinstance(LeastSquares(), TrainingTask)


def test_loop_trains_and_writes_its_outputs(tmp_path):
    result = run_loop(LeastSquares(), _config(tmp_path), config_yaml="a: 1\n")
    out = tmp_path / "run"
    assert result.steps == 24  # 8 batches x 3 epochs
    assert result.final["mse"] < 0.5 * result.baseline["mse"]
    for name in ("metrics.jsonl", "loss.png", "metric.png", "summary.md", "config.yaml",
                 "best/weights.pt", "last/weights.pt"):
        assert (out / name).is_file(), name
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 25))
    assert "baseline" in (out / "summary.md").read_text() and len(list_checkpoints(out)) == 1


def test_accumulation_equals_one_big_batch(tmp_path):
    """2 micro-batches of 3 with accumulation == batches of 6: sum/total units, same updates."""
    class Six(LeastSquares):
        def batch_plan(self, epoch):
            return [[*a, *b] for a, b in zip(*[iter(super().batch_plan(epoch))] * 2, strict=True)]

    a = run_loop(LeastSquares(), _config(tmp_path / "a", gradient_accumulation_steps=2, max_grad_norm=0))
    b = run_loop(Six(), _config(tmp_path / "b", max_grad_norm=0))
    assert a.steps == b.steps == 12
    wa = torch.load(tmp_path / "a/run/last/weights.pt")
    wb = torch.load(tmp_path / "b/run/last/weights.pt")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=0, atol=1e-6)


def test_resume_continues_exactly(tmp_path):
    full = run_loop(LeastSquares(), _config(tmp_path / "full", save_every=5))

    class Crash(Exception):
        pass

    def crash_at_7(state):
        if state.step == 7:
            raise Crash

    with pytest.raises(Crash):
        run_loop(LeastSquares(), _config(tmp_path / "cut", save_every=5), on_step=crash_at_7)
    # Starting fresh over existing checkpoints is refused; resume=auto continues from step 5.
    with pytest.raises(TrainingError, match="resume"):
        run_loop(LeastSquares(), _config(tmp_path / "cut", save_every=5))
    resumed = run_loop(LeastSquares(), _config(tmp_path / "cut", save_every=5, resume="auto"))
    assert resumed.steps == full.steps
    assert resumed.final_loss == pytest.approx(full.final_loss, abs=1e-7)
    steps = [r["step"] for r in resumed.history if "loss" in r]
    assert steps == list(range(1, 25))  # history rewound to the checkpoint, nothing doubled


def test_early_stopping_and_best_kept(tmp_path):
    objective = LeastSquares(eval_scores=[1.0, 0.5, 0.6, 0.7, 0.8])
    result = run_loop(objective, _config(tmp_path, eval_every=2, early_stopping_patience=2))
    assert result.stopped_early and result.steps == 6
    assert result.best_metric == 0.5 and result.model_dir.name == "best"


def test_a_sparse_log_reports_the_token_weighted_mean_since_the_previous_line(tmp_path):
    every = run_loop(LeastSquares(), _config(tmp_path / "every"))
    sparse = run_loop(LeastSquares(), _config(tmp_path / "sparse", log_every=5))
    per_step = {r["step"]: r["loss"] for r in every.history if "loss" in r}
    logged = {r["step"]: r["loss"] for r in sparse.history if "loss" in r}
    assert sorted(logged) == [5, 10, 15, 20, 24]  # every 5th step and the last
    assert logged[5] == pytest.approx(sum(per_step[s] for s in range(1, 6)) / 5, rel=1e-5)  # 3 units per batch
    assert logged[24] == pytest.approx(sum(per_step[s] for s in range(21, 25)) / 4, rel=1e-5)
    assert sparse.final_loss == pytest.approx(logged[24])


@pytest.mark.parametrize("implementation", ["fused", "foreach", "for-loop"])
def test_every_adamw_implementation_trains_the_same_weights(tmp_path, implementation):
    reference = run_loop(LeastSquares(), _config(tmp_path / "auto", weight_decay=0.01))
    other = run_loop(LeastSquares(), _config(tmp_path / implementation, weight_decay=0.01, optimizer=implementation))
    assert other.final_loss == pytest.approx(reference.final_loss, rel=1e-4)
    wa = torch.load(tmp_path / "auto/run/last/weights.pt")
    wb = torch.load(tmp_path / implementation / "run/last/weights.pt")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], rtol=1e-5, atol=1e-6)
