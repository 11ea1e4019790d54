"""stdout carries results only; logs and progress go to stderr, unwrapped when not a terminal.

Each command runs as a user runs it: the installed console script in a child process with
stdout and stderr captured as files would be, on a new cache folder so that the embedded
model's one-time rebuild (which logs) happens in the run under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

WHISPER_TUNE = Path(sys.executable).with_name("whisper-tune")


@pytest.fixture(scope="module")
def fresh_cache(tmp_path_factory) -> dict[str, str]:
    """Environment with an empty whisper-tune cache (the first command rebuilds tiny.en)."""
    return {**os.environ, "WHISPER_TUNE_CACHE": str(tmp_path_factory.mktemp("cache"))}


def _run(argv: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(WHISPER_TUNE), *argv], capture_output=True, text=True, timeout=600, env=env,
                            cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result


def test_transcribe_on_a_new_cache_prints_only_the_transcript(fresh_cache, jfk_wav):
    result = _run(["transcribe", "--model", "embedded:tiny.en", str(jfk_wav)], fresh_cache)
    assert result.stdout == (
        "And so my fellow Americans ask not what your country can do for you, ask what you can do for your country.\n"
    )
    log = result.stderr.splitlines()
    # The rebuild was logged, to stderr, one unwrapped line per record (rich would wrap at 80).
    assert [line.split()[0] for line in log] == ["rebuilding", "rebuilt"], log
    assert all("as a Hugging Face model" in line and "embedded-tiny.en" in line for line in log)
    assert "past_key_values" not in result.stderr  # transformers' deprecation notice: -vv only


def test_eval_json_stdout_is_json(fresh_cache, jfk_wav, jfk_text, tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text(f'audio,text\n{jfk_wav},"{jfk_text}"\n', encoding="utf-8")
    result = _run(["eval", "embedded:tiny.en", "--data", str(manifest), "--json"], fresh_cache)
    report = json.loads(result.stdout)
    assert report["totals"]["clips"] == 1 and report["totals"]["wer"] == 0.0


def test_inspect_json_stdout_is_json(fresh_cache, embedded_ggml):
    result = _run(["inspect", str(embedded_ggml["q8_0"]), "--json"], fresh_cache)
    report = json.loads(result.stdout)
    assert report["dtype"] == "q8_0" and report["problems"] == []
    assert result.stderr == ""


def test_result_tables_are_not_wrapped_in_a_file(fresh_cache, jfk_wav, jfk_text, tmp_path):
    manifest = tmp_path / "clips.csv"
    manifest.write_text(f'audio,text\n{jfk_wav},"{jfk_text}"\n', encoding="utf-8")
    result = _run(["eval", "embedded:tiny.en", "--data", str(manifest)], fresh_cache)
    [row] = [line for line in result.stdout.splitlines() if "audio/jfk " in line]  # id: the path, no suffix
    # One line per clip: the hypothesis column holds all of its 100 characters (rich would wrap it at 80).
    assert "And so my fellow Americans ask not what your country can do for you, ask what you can do for your..." in row
    assert result.stdout.splitlines()[-1].startswith("audio context full: WER 0.00%, CER 0.00%, loops 0/1")
