"""A real, short training run whose folder the push tests push."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """tiny.en, LoRA, 1 step on 4 demo clips, WER measured on 1 held-out clip, merged."""
    from tests.training.conftest import write_csv_manifest
    from whisper_tune.demo_data import demo_split_dir
    from whisper_tune.training.config import load_train_config
    from whisper_tune.training.recipe import train

    clips = sorted(demo_split_dir("train").glob("s0[12]-en-us-*.ogg"))
    if len(clips) < 4:
        pytest.skip("the bundled demo dataset is missing")
    pairs = [(clip, clip.with_suffix(".txt").read_text(encoding="utf-8").strip()) for clip in clips[:4]]
    folder = tmp_path_factory.mktemp("push-run")
    train_csv = write_csv_manifest(folder / "train.csv", pairs)
    held_out = sorted(demo_split_dir("train").glob("s03-en-gb-f2.ogg"))
    validation = write_csv_manifest(folder / "validation.csv", [(held_out[0], held_out[0].with_suffix(".txt")
                                                                  .read_text(encoding="utf-8").strip())])
    out = folder / "run"
    train(load_train_config(None, [f"train_manifest={train_csv}", f"validation_manifest={validation}",
                                   f"output_dir={out}", "max_steps=1", "batch_size=2", "learning_rate=1e-3",
                                   "device=cpu", "progress=false", "merge=true"]))
    return out
