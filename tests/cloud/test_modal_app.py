"""The Modal app as Modal itself sees it, and its function body run in-process through ``.local()``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("modal")

APP_FILE = Path(__file__).resolve().parents[2] / "src" / "whisper_tune" / "cloud" / "modal_app.py"
SIZES = ("tiny.en", "tiny", "base.en", "base", "small.en", "small", "medium.en", "medium", "large-v3",
         "large-v3-turbo")


def _entry(size: str, kind: str) -> str:
    return f"{size.replace('.', '_').replace('-', '_')}_{kind}_app"


@pytest.mark.parametrize("ref", [f"{APP_FILE}::base_en_acft_app", "whisper_tune.cloud.modal_app::tiny_train_app"])
def test_modal_run_resolves_an_entry(ref):
    """What `modal run FILE::NAME` and `modal run -m MODULE::NAME` do to find what to run."""
    from modal.app import LocalEntrypoint
    from modal.cli.import_refs import import_and_filter, parse_import_ref

    import_ref = parse_import_ref(ref, use_module_mode="::" in ref and not ref.startswith("/"))
    runnable, commands, _ = import_and_filter(import_ref, base_cmd="modal run")
    assert isinstance(runnable, LocalEntrypoint)
    names = {name for command in commands for name in command.names}
    assert ref.split("::")[1] in names and "run_job" in names


def test_modal_deploy_finds_the_app_with_every_entry():
    from modal import App, Function
    from modal.app import LocalEntrypoint
    from modal.cli.import_refs import import_app_from_ref, parse_import_ref

    app = import_app_from_ref(parse_import_ref(str(APP_FILE)), base_cmd="modal deploy")
    assert isinstance(app, App) and app.name == "whisper-tune"
    import whisper_tune.cloud.modal_app as module

    assert isinstance(module.run_job, Function)
    for size in SIZES:
        for kind in ("acft", "train"):
            assert isinstance(getattr(module, _entry(size, kind)), LocalEntrypoint), _entry(size, kind)
    assert len(module.ENTRY_NAMES) == 2 * len(SIZES)


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _losses(folder: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (folder / "metrics.jsonl").read_text().splitlines()) if "loss" in r]


@pytest.mark.slow
def test_acft_function_body_writes_what_a_local_run_writes(tmp_path, demo_clips_manifest):
    from whisper_tune.acft.config import load_acft_config
    from whisper_tune.acft.runner import run_acft
    from whisper_tune.cloud.submit import run_on_directory
    from whisper_tune.training.checkpoint import checkpoint_dir, list_checkpoints

    common = ["model=embedded:tiny.en", f"train_manifest={demo_clips_manifest}", "max_steps=2", "batch_size=2",
              "device=cpu", "progress=false", "save_every=1", "learning_rate=1e-5"]
    local = run_acft(load_acft_config(None, [*common, f"output_dir={tmp_path / 'local'}"]))
    summary = run_on_directory("acft", load_acft_config(None, [*common, f"output_dir={tmp_path / 'cloud'}"]),
                               tmp_path / "volume")
    assert summary["steps"] == local.steps == 2 and summary["model_dir"] == "last"
    local_files = _files(tmp_path / "local")
    assert _files(tmp_path / "cloud") == {f for f in local_files if not f.startswith("checkpoints/")}
    assert _losses(tmp_path / "cloud") == pytest.approx(_losses(tmp_path / "local"), rel=1e-5)
    run = tmp_path / "volume" / "runs" / summary["run"]
    assert [p.name for p in list_checkpoints(run)] == [checkpoint_dir(run, 1).name, checkpoint_dir(run, 2).name]
    weights = "last/model.safetensors"
    assert (tmp_path / "cloud" / weights).read_bytes() == (run / weights).read_bytes()


@pytest.mark.slow
def test_a_retried_job_continues_from_its_checkpoint(tmp_path, demo_clips_manifest):
    """Modal's retry calls the body again with the same spec: it resumes, it does not restart."""
    import whisper_tune.cloud.modal_app as module
    from whisper_tune.cloud.staging import stage_job
    from whisper_tune.cloud.volume_io import DirectoryVolume, missing_uploads, upload
    from whisper_tune.training.config import load_train_config

    config = load_train_config(None, [f"train_manifest={demo_clips_manifest}", f"output_dir={tmp_path / 'out'}",
                                      "max_steps=1", "batch_size=2", "device=cpu", "save_every=1"])
    volume = DirectoryVolume(tmp_path / "volume")
    staged = stage_job("train", config, tmp_path / "staging")
    upload(volume, missing_uploads(volume, staged.uploads))
    first = module.run_job.local(staged.spec, str(volume.root))
    # The same job with one more step to go, as after a preemption at step 1.
    staged.spec["config"]["max_steps"] = 2
    second = module.run_job.local(staged.spec, str(volume.root))
    assert (first["steps"], second["steps"]) == (1, 2)
    history = [json.loads(line) for line in
               (volume.root / "runs" / staged.run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in history if "loss" in r] == [1, 2]


def test_an_entry_dry_run_prints_the_preset_plan(capsys, demo_clips_manifest):
    """What `modal run modal_app.py::base_en_acft_app --data ... --dry-run` prints (no Modal call)."""
    import whisper_tune.cloud.modal_app as module
    from whisper_tune.cloud.submit import submit_preset

    submit_preset(module, "base.en", "acft", data=str(demo_clips_manifest), push_to_hub="me/base-en-acft",
                  dry_run=True)
    out = capsys.readouterr().out
    assert "whisper-tune acft on Modal (dry run" in out and "gpu:        A100 (40 GB)" in out
    assert "openai/whisper-base.en (from the Hub" in out and "/whisper-tune/runs/acft-base_en_acft-" in out
    assert "push:       me/base-en-acft (private)" in out
