"""A few real ACFT steps on the embedded tiny.en through the training loop, and what they save."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch

from whisper_tune.acft.config import load_acft_config
from whisper_tune.errors import ConfigError

pytestmark = pytest.mark.shared

# Pieces of jfk.wav (seconds) and what is said in them: short, dictation-like clips.
PIECES = (
    (0.0, 3.9, "And so my fellow Americans,"),
    (3.9, 8.2, "ask not what your country can do for you,"),
    (8.2, 11.0, "ask what you can do for your country."),
)


@pytest.fixture(scope="module")
def jfk_manifest(tmp_path_factory, jfk_audio):
    from whisper_tune.audio import SAMPLE_RATE, write_wav
    from whisper_tune.data.manifest import ManifestRow, write_manifest

    folder = tmp_path_factory.mktemp("acft-jfk")
    rows = []
    for index, (start, end, text) in enumerate(PIECES):
        path = folder / f"jfk{index}.wav"
        samples = jfk_audio[int(start * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        write_wav(path, samples)
        rows.append(ManifestRow(f"jfk{index}", path, text, len(samples) / SAMPLE_RATE, SAMPLE_RATE, 1))
    return write_manifest(rows, folder / "manifest.csv")


@pytest.fixture(scope="module")
def acft_run(tmp_path_factory, jfk_manifest, embedded_path):
    from whisper_tune.acft.runner import run_acft

    out = tmp_path_factory.mktemp("acft-run") / "run"
    # A high learning rate so that 4 steps visibly move the model (FUTO: 1e-6 over ~20k steps).
    config = load_acft_config(None, [
        "model=embedded:tiny.en", f"train_manifest={jfk_manifest}", f"eval_manifest={jfk_manifest}",
        f"output_dir={out}", "batch_size=2", "max_steps=4", "learning_rate=2e-5", "progress=false",
        "device=cpu", "log_every=1", "context.deployed_floor_weight=0",
    ])
    return run_acft(config), config


def test_distillation_loss_falls(acft_run):
    result, _ = acft_run
    assert result.steps == 4
    assert result.baseline["mse_full"] == 0.0  # the student starts as an exact copy
    assert result.baseline["mse_futo"] > 0.1
    assert result.final["mse_futo"] < 0.8 * result.baseline["mse_futo"]
    losses = [r["loss"] for r in json.loads("[" + ",".join(
        (result.output_dir / "metrics.jsonl").read_text().splitlines()) + "]") if "loss" in r]
    assert len(losses) == 4 and all(loss > 0 for loss in losses)


def test_saved_model_reloads_with_the_acft_marker(acft_run, embedded_model):
    from whisper_tune.export.file_names import futo_name, identify
    from whisper_tune.models import load_model, load_processor

    result, _ = acft_run
    config = json.loads((result.model_dir / "config.json").read_text())
    marker = config["whisper_tune"]
    assert marker["acft"] is True and marker["acft_steps"] in (0, 4) and marker["base"] == "embedded:tiny.en"
    last = json.loads((result.output_dir / "last" / "config.json").read_text())["whisper_tune"]
    assert last["acft_steps"] == 4 and last["acft_method"] == "full"
    assert futo_name(identify(config), "q8_0") == "tiny_en_acft_q8_0.bin"
    for name in ("vocab.json", "merges.txt", "added_tokens.json", "normalizer.json", "preprocessor_config.json",
                 "generation_config.json", "tokenizer.json"):
        assert (result.output_dir / "last" / name).is_file(), name
    reloaded = load_model(str(result.output_dir / "last"))
    load_processor(str(result.output_dir / "last"))
    changed = [name for name, p in reloaded.state_dict().items()
               if not torch.equal(p, embedded_model.state_dict()[name])]
    assert len(changed) > 50  # every layer moved (full ACFT)
    assert reloaded.dtype == torch.float32  # lr-1e-6 updates would vanish in float16


def test_resume_continues_from_the_checkpoint(acft_run):
    from whisper_tune.acft.runner import run_acft

    _, config = acft_run
    more = load_acft_config(None, [
        f"model={config.model}", f"train_manifest={config.train_manifest}", f"output_dir={config.output_dir}",
        "batch_size=2", "max_steps=5", "learning_rate=2e-5", "progress=false", "device=cpu", "resume=auto",
        "context.deployed_floor_weight=0",
    ])
    resumed = run_acft(more)
    assert resumed.steps == 5
    marker = json.loads((resumed.output_dir / "last" / "config.json").read_text())["whisper_tune"]
    assert marker["acft_steps"] == 5


@pytest.mark.parametrize("override, message", [
    ("epochs=0", "at least 1"),
    ("method=dora", "not one of"),
    ("context.offsets=[2000]", "0 to 1500"),
    ("context.jiter_weight=1", "did you mean"),
])
def test_bad_config_values_are_refused(override, message):
    base = ["model=embedded:tiny.en", "train_manifest=x.csv"]
    with pytest.raises(ConfigError, match=message):
        load_acft_config(None, [*base, override])


def test_model_and_manifest_are_required():
    with pytest.raises(ConfigError, match="model is not set"):
        load_acft_config(None, ["train_manifest=x.csv"])
    with pytest.raises(ConfigError, match="train_manifest is not set"):
        load_acft_config(None, ["model=embedded:tiny.en"])


def test_shipped_configs_load(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    for file in sorted((repo / "configs").glob("acft_*.yaml")):
        config = load_acft_config(file)
        assert config.model and config.train_manifest is not None, file


@pytest.mark.parametrize("checkpointing", [False, True])
def test_the_student_is_set_up_as_configured(tmp_path, jfk_manifest, checkpointing):
    """gradient_checkpointing reaches the student (not the frozen reference), and on one CPU
    process the token embedding's gradient is built in one kept buffer."""
    from accelerate import Accelerator

    from whisper_tune.acft.runner import AcftTask

    config = load_acft_config(None, [
        "model=embedded:tiny.en", f"train_manifest={jfk_manifest}", f"output_dir={tmp_path}", "device=cpu",
        f"gradient_checkpointing={str(checkpointing).lower()}"])
    task = AcftTask(config)
    task.setup(Accelerator(cpu=True))
    student: Any = task.adapted.whisper
    reference: Any = task.distillation.reference
    assert student.is_activation_checkpointing is checkpointing
    assert reference.is_activation_checkpointing is False
    assert task.lookup_gradient is not None and student.model.decoder.embed_tokens.sparse
