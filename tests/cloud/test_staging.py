"""Staging a job: audio and model folders named by content, so a rerun uploads nothing new."""

from __future__ import annotations

import shutil

import pytest

from whisper_tune.cloud.staging import sha256_file, stage_job
from whisper_tune.cloud.volume_io import (
    DirectoryVolume,
    download_run,
    missing_uploads,
    upload,
)
from whisper_tune.data.manifest import read_manifest
from whisper_tune.errors import ConfigError
from whisper_tune.training.config import load_train_config


def _config(manifest, out, *extra):
    return load_train_config(None, [f"train_manifest={manifest}", f"output_dir={out}", *extra])


def test_clips_are_uploaded_once_by_content(tmp_path, demo_clips_manifest):
    volume = DirectoryVolume(tmp_path / "volume")
    staged = stage_job("train", _config(demo_clips_manifest, tmp_path / "out"), tmp_path / "s1")
    rows = read_manifest(demo_clips_manifest)
    audio = [u for u in staged.uploads if u.remote.startswith("data/audio/")]
    assert sorted(u.remote for u in audio) == sorted(f"data/audio/{sha256_file(r.audio)}.ogg" for r in rows)
    assert staged.upload_bytes == sum(r.audio.stat().st_size for r in rows) + staged.uploads[-1].size
    assert len(missing_uploads(volume, staged.uploads)) == len(rows) + 1
    upload(volume, staged.uploads)
    # The uploaded manifest reads back with the same clips, now pointing into the Volume.
    remote = read_manifest(volume.root / staged.spec["volume_paths"]["train_manifest"])
    def facts(rows):
        return [(r.id, r.text, round(r.duration, 3)) for r in rows]

    assert facts(remote) == facts(rows)
    assert all(r.audio.parent == volume.root / "data" / "audio" and r.audio.is_file() for r in remote)
    # The same command again: the same run, nothing to upload.
    again = stage_job("train", _config(demo_clips_manifest, tmp_path / "out"), tmp_path / "s2")
    assert again.run == staged.run and again.spec == staged.spec
    assert missing_uploads(volume, again.uploads) == []


def test_a_changed_clip_uploads_only_itself_and_a_new_manifest(tmp_path, demo_clips_manifest):
    from tests.training.conftest import write_csv_manifest

    rows = read_manifest(demo_clips_manifest)
    copies = []
    for row in rows:
        copies.append((tmp_path / "clips" / row.audio.name, row.text))
        copies[-1][0].parent.mkdir(exist_ok=True)
        shutil.copyfile(row.audio, copies[-1][0])
    manifest = write_csv_manifest(tmp_path / "clips" / "train.csv", copies)
    volume = DirectoryVolume(tmp_path / "volume")
    upload(volume, stage_job("train", _config(manifest, tmp_path / "out"), tmp_path / "s1").uploads)
    from whisper_tune.demo_data import demo_split_dir

    shutil.copyfile(demo_split_dir("train") / "s05-en-us-f4.ogg", copies[0][0])  # clip 0 now holds new audio
    changed = stage_job("train", _config(manifest, tmp_path / "out"), tmp_path / "s2")
    missing = missing_uploads(volume, changed.uploads)
    assert [u.local.name for u in missing] == [copies[0][0].name, missing[-1].local.name]
    assert missing[-1].remote.startswith("data/manifests/")


def test_a_local_model_folder_goes_up_by_content_and_hub_ids_stay(tmp_path, demo_clips_manifest, embedded_path):
    config = _config(demo_clips_manifest, tmp_path / "out", f"model={embedded_path}")
    staged = stage_job("train", config, tmp_path / "s")
    model_uploads = [u for u in staged.uploads if u.remote.startswith("models/")]
    assert {u.local.name for u in model_uploads} >= {"config.json", "model.safetensors", "tokenizer.json"}
    assert staged.spec["volume_paths"]["model"] == model_uploads[0].remote.rsplit("/", 1)[0]
    hub = stage_job("train", _config(demo_clips_manifest, tmp_path / "out", "model=openai/whisper-base.en",
                                     "validation_manifest=hf:me/clips@test"), tmp_path / "h")
    assert "model" not in hub.spec["volume_paths"] and hub.spec["config"]["model"] == "openai/whisper-base.en"
    assert hub.spec["config"]["validation_manifest"] == "hf:me/clips@test"
    assert hub.spec["config"]["resume"] == "auto" and hub.spec["config"]["save_every"] == 100


def test_an_adapter_or_a_fixed_resume_folder_is_refused(tmp_path, demo_clips_manifest):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with pytest.raises(ConfigError, match="merge it first"):
        stage_job("train", _config(demo_clips_manifest, tmp_path / "out", f"model={adapter}"), tmp_path / "s")
    with pytest.raises(ConfigError, match="resumes its own checkpoints"):
        stage_job("train", _config(demo_clips_manifest, tmp_path / "out", f"resume={adapter}"), tmp_path / "s")


def test_download_leaves_checkpoints_on_the_volume(tmp_path):
    volume = DirectoryVolume(tmp_path / "volume")
    run = volume.root / "runs" / "r1"
    for name in ("last/model.safetensors", "metrics.jsonl", "checkpoints/step-000001/state.json"):
        (run / name).parent.mkdir(parents=True, exist_ok=True)
        (run / name).write_bytes(name.encode())
    written = download_run(volume, "r1", tmp_path / "local")
    assert sorted(p.relative_to(tmp_path / "local").as_posix() for p in written) == ["last/model.safetensors",
                                                                                    "metrics.jsonl"]
    assert (tmp_path / "local" / "last" / "model.safetensors").read_bytes() == b"last/model.safetensors"
