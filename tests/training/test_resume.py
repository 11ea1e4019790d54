"""A run killed with SIGKILL mid-epoch and resumed ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from whisper_tune.training.checkpoint import STATE_FILE, list_checkpoints
from whisper_tune.training.config import load_train_config
from whisper_tune.training.recipe import train

#: Same code, same data, same thread count: the resumed run should match to float rounding.
LOSS_RTOL = 1e-5
WEIGHT_ATOL = 1e-6


def _overrides(manifest: Path, model: Path, output: Path) -> list[str]:
    # 24 clips in batches of 2: 12 steps per epoch, 2 epochs; checkpoints every 3 steps.
    return [f"train_manifest={manifest}", f"model={model}", f"output_dir={output}", "method=lora",
            "batch_size=2", "epochs=2", "save_every=3", "keep_checkpoints=10", "learning_rate=5e-3",
            "lora.dropout=0.1", "encoder_context=full", "device=cpu", "progress=false",
            "log_every=1"]  # a record per step: the resumed run's records are compared step by step


def _last_loss(output: Path) -> float:
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "loss" in r][-1]["loss"]


def _cli(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "whisper_tune.cli.main", "train", *args]


@pytest.fixture
def one_thread():
    """One torch thread here and in the subprocesses: the same arithmetic in all three runs
    (and a tiny model trains faster on one thread than on two contended ones)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    torch.set_num_threads(threads)


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(random_manifest, tiny_random_dir, tmp_path, one_thread):
    reference = train(load_train_config(None, _overrides(random_manifest, tiny_random_dir, tmp_path / "ref")))
    assert reference.steps == 24

    killed = tmp_path / "killed"
    env = one_thread
    process = subprocess.Popen(_cli(_overrides(random_manifest, tiny_random_dir, killed)), env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while not list_checkpoints(killed) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
    finally:
        output = process.communicate(timeout=60)[0].decode(errors="replace")
    assert process.returncode == -signal.SIGKILL, output
    assert not (killed / "summary.md").exists(), "the run finished before it could be killed"
    latest = list_checkpoints(killed)[-1]
    state = json.loads((latest / STATE_FILE).read_text())
    assert state["epoch"] == 0 and 0 < state["batch_in_epoch"] < 12  # mid-epoch

    resumed = subprocess.run(_cli([*_overrides(random_manifest, tiny_random_dir, killed), "--resume"]),
                             env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _last_loss(killed) == pytest.approx(_last_loss(tmp_path / "ref"), rel=LOSS_RTOL)
    steps = [json.loads(line)["step"] for line in (killed / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 25))
    from safetensors.torch import load_file

    got = load_file(str(killed / "last" / "adapter_model.safetensors"))
    want = load_file(str(tmp_path / "ref" / "last" / "adapter_model.safetensors"))
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=WEIGHT_ATOL)
