"""Datasets as training data: a save_to_disk folder trains through the code a Hub id takes."""

from __future__ import annotations

import pytest

from whisper_tune.data.training_data import (
    is_dataset_spec,
    resolve_manifest,
    split_spec,
)
from whisper_tune.errors import DataError

datasets = pytest.importorskip("datasets")


@pytest.fixture(scope="module")
def saved_dataset(tmp_path_factory):
    """Four demo clips as a DatasetDict with ``audio`` and ``sentence`` columns, saved to disk."""
    from whisper_tune.demo_data import demo_split_dir

    clips = sorted(demo_split_dir("train").glob("s0[12]-en-us-*.ogg"))[:4]
    if len(clips) < 4:
        pytest.skip("the bundled demo dataset is missing")
    table = {"audio": [str(c) for c in clips],
             "sentence": [c.with_suffix(".txt").read_text(encoding="utf-8").strip() for c in clips]}
    split = datasets.Dataset.from_dict(table).cast_column("audio", datasets.Audio(decode=False))
    folder = tmp_path_factory.mktemp("saved") / "clips"
    datasets.DatasetDict({"train": split.select(range(3)), "test": split.select([3])}).save_to_disk(str(folder))
    return folder, table


def test_split_spec():
    assert split_spec("hf:me/clips@test") == ("hf:me/clips", "test")
    assert split_spec("hf:me/clips") == ("hf:me/clips", None)
    assert split_spec("/data/a@b/train.csv") == ("/data/a@b/train.csv", None)
    with pytest.raises(DataError, match="empty split"):
        split_spec("hf:me/clips@")


def test_a_saved_dataset_becomes_a_manifest_once(saved_dataset, tmp_path):
    from whisper_tune.data.manifest import read_manifest

    folder, table = saved_dataset
    assert is_dataset_spec(folder) and is_dataset_spec(f"{folder}@test") and is_dataset_spec("hf:me/x")
    assert not is_dataset_spec(tmp_path)
    manifest = resolve_manifest(f"{folder}@train")
    rows = read_manifest(manifest)
    assert [r.text for r in rows] == table["sentence"][:3]
    assert all(r.audio.is_file() and r.duration > 1.0 for r in rows)
    before = manifest.stat().st_mtime_ns
    assert resolve_manifest(f"{folder}@train") == manifest and manifest.stat().st_mtime_ns == before
    assert [r.text for r in read_manifest(resolve_manifest(f"{folder}@test"))] == table["sentence"][3:]
    with pytest.raises(DataError, match=r"splits \['test', 'train'\]; choose one"):
        resolve_manifest(folder)


def test_a_hub_id_takes_the_same_path(monkeypatch):
    """Offline, hf:... reaches datasets.load_dataset through the same build; its failure is one DataError."""
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match=r"nobody/no-such-clips: cannot load the Hugging Face dataset"):
        resolve_manifest("hf:nobody/no-such-clips@train")


@pytest.mark.slow
def test_acft_trains_on_a_saved_dataset(saved_dataset, tmp_path):
    from whisper_tune.acft.config import load_acft_config
    from whisper_tune.acft.runner import run_acft

    folder, _ = saved_dataset
    config = load_acft_config(None, ["model=embedded:tiny.en", f"train_manifest={folder}@train",
                                     f"output_dir={tmp_path / 'run'}", "max_steps=1", "batch_size=3",
                                     "device=cpu", "progress=false"])
    result = run_acft(config)
    assert result.steps == 1 and (result.model_dir / "model.safetensors").is_file()
    assert "train clips: 3" in (tmp_path / "run" / "summary.md").read_text()
