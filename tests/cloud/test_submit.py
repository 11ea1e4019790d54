"""whisper_tune.cloud.submit through `train`/`acft --cloud modal`: the plan offline, one-line failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_tune.cli.main import main

pytest.importorskip("modal")
REPO = Path(__file__).resolve().parents[2]


def _without_modal_token(monkeypatch):
    for name in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE"):
        monkeypatch.delenv(name, raising=False)


def test_dry_run_prints_the_plan_with_no_token_and_no_network(monkeypatch, capsys, demo_clips_manifest, tmp_path):
    _without_modal_token(monkeypatch)
    code = main(["acft", "--config", str(REPO / "configs" / "acft_base_en.yaml"),
                 f"train_manifest={demo_clips_manifest}", f"output_dir={tmp_path / 'out'}",
                 "push_to_hub=me/base-en-acft",
                 "--cloud", "modal", "--gpu", "H100", "--timeout", "90m", "--dry-run"])
    out = capsys.readouterr().out
    assert code == 0
    assert "gpu:        H100 (80 GB), timeout 1 h 30 min" in out
    assert "torch==" in out and "Python 3." in out
    assert "/whisper-tune/runs/acft-out-" in out and "/whisper-tune/data/audio/<sha256>.<ext>" in out
    size = sum(p.stat().st_size for p in demo_clips_manifest.parent.iterdir())
    assert "upload:     5 files" in out  # 4 clips and their manifest
    assert "openai/whisper-base.en (from the Hub, cached on the Volume)" in out
    assert f"-> {tmp_path / 'out'}" in out and "push:       me/base-en-acft (private)" in out
    assert size > 0 and not (tmp_path / "out").exists()


def test_a_missing_token_is_one_line_and_exit_2(monkeypatch, capsys, demo_clips_manifest, tmp_path):
    _without_modal_token(monkeypatch)
    from modal.config import config

    if config.get("token_id"):
        pytest.skip("a Modal token is configured on this machine")
    code = main(["train", f"train_manifest={demo_clips_manifest}", f"output_dir={tmp_path / 'out'}",
                 "--cloud", "modal"])
    err = capsys.readouterr().err
    assert code == 2
    expected = ("error: no Modal token is configured; run `modal token new` (or `modal setup`), "
                "or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")
    assert err.splitlines() == [expected]


def test_a_missing_secret_is_explained(monkeypatch):
    """Modal's own NotFoundError for a secret becomes the command that creates it."""
    import modal.exception

    from whisper_tune.cloud.submit import modal_errors
    from whisper_tune.errors import CloudError

    expected = r"modal secret create huggingface-token HF_TOKEN=<your Hugging Face token>"
    with pytest.raises(CloudError, match=expected), modal_errors("huggingface-token"):
        raise modal.exception.NotFoundError("Secret 'huggingface-token' not found in environment 'main'")


@pytest.mark.slow
def test_no_network_is_one_line_and_exit_2(demo_clips_manifest, tmp_path):
    """A token but no server to reach (Modal tries for about a minute before it gives up)."""
    env = {**os.environ, "MODAL_TOKEN_ID": "ak-not-a-real-token", "MODAL_TOKEN_SECRET": "as-not-a-real-secret",
           "MODAL_SERVER_URL": "http://127.0.0.1:9", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-m", "whisper_tune", "-q", "train", f"train_manifest={demo_clips_manifest}",
                           f"output_dir={tmp_path / 'out'}", "--cloud", "modal"],
                          capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: cannot reach Modal (Could not connect to the Modal server.); "
        "check the network connection and try again"]
    assert "as-not-a-real-secret" not in done.stderr + done.stdout


def test_bad_cloud_options_are_refused_before_any_work(capsys, demo_clips_manifest):
    assert main(["train", f"train_manifest={demo_clips_manifest}", "--cloud", "modal", "--timeout", "25h",
                 "--dry-run"]) == 2
    assert "Modal allows 60 s to 24 h" in capsys.readouterr().err
