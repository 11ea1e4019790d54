"""``accelerate launch --multi_gpu --num_processes 2`` on a CPU-only machine: two ranks (DDP
over gloo) train like one process accumulating their two micro-batches, and one set of
outputs is written.

(With accelerate 1.15, ``--cpu`` selects the single-process launcher: two CPU ranks need
``--multi_gpu``, which torchrun-launches them; without a GPU they use gloo.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from whisper_tune.training.config import load_train_config
from whisper_tune.training.recipe import train

WEIGHT_ATOL = 1e-5  # gloo all-reduce sums in another order than local accumulation


def _overrides(manifest: Path, model: Path, output: Path) -> list[str]:
    return [f"train_manifest={manifest}", f"model={model}", f"output_dir={output}", "batch_size=2", "epochs=1",
            "device=cpu", "progress=false", "learning_rate=5e-3", "encoder_context=clip",
            "log_every=1"]  # a record per step, so the two runs compare step by step


def test_two_cpu_processes_train_like_accumulation_and_write_one_output(random_manifest, tiny_random_dir,
                                                                         tmp_path):
    launcher = Path(sys.executable).with_name("accelerate")
    if not launcher.is_file():
        found = shutil.which("accelerate")
        if found is None:
            pytest.skip("the accelerate launcher is not installed")
        launcher = Path(found)
    output = tmp_path / "run"
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "whisper_tune.cli.main", "train",
               *_overrides(random_manifest, tiny_random_dir, output), "--merge"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-4000:])
    records = [json.loads(line) for line in (output / "metrics.jsonl").read_text().splitlines()]
    # 24 clips in batches of 2 = 12 micro-batches; each step takes one per rank: 6 steps of 4 clips.
    assert [r["step"] for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[-1]["samples_seen"] == 24
    assert result.stdout.count("trained 6 steps") == 1  # only the main process reports
    assert (output / "merged" / "model.safetensors").is_file()
    assert [p.name for p in output.iterdir() if p.name.startswith(".")] == []  # no second writer's leftovers

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(load_train_config(None, [*_overrides(random_manifest, tiny_random_dir, tmp_path / "one"),
                                                "gradient_accumulation_steps=2"]))
    finally:
        torch.set_num_threads(threads)
    assert single.steps == 6
    from safetensors.torch import load_file

    got = load_file(str(output / "last" / "adapter_model.safetensors"))
    want = load_file(str(tmp_path / "one" / "last" / "adapter_model.safetensors"))
    for key in want:
        torch.testing.assert_close(got[key], want[key], rtol=0, atol=WEIGHT_ATOL)
