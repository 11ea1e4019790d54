"""``whisper-tune push`` end to end against a loopback Hub (create, preupload, commit)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from tests.hub.hub_server import HubServer
from whisper_tune.cli.main import main

pytest.importorskip("huggingface_hub")

TOKEN = "hf_loopbackTestToken0123456789abcdef"
REPO = "someone/tiny-en-demo"
#: Files pushed as they are on disk (README.md and generation_config.json are written for the push).
AS_IS = ("model.safetensors", "config.json", "vocab.json", "merges.txt", "added_tokens.json", "normalizer.json",
         "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json")


@pytest.fixture
def hub(monkeypatch):
    from whisper_tune.cli.main import configure_logging

    with HubServer() as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield server
    configure_logging(0, False)  # -vv opened third-party logs onto a captured stream: close them again


def _push(capsys, caplog, *argv: str) -> tuple[int, str]:
    with caplog.at_level(logging.DEBUG):
        code = main(["-vv", "push", *argv])
    captured = capsys.readouterr()
    return code, captured.out + captured.err + caplog.text


def _metrics(run: Path) -> list[dict]:
    return [r for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines()) if r.get("event") == "eval"]


@pytest.mark.slow
def test_push_is_private_complete_byte_identical_and_tokenless(hub, trained_run, capsys, caplog):
    code, output = _push(capsys, caplog, str(trained_run), REPO)
    assert code == 0, output
    repo = hub.state.repos[REPO]
    assert repo.private is True
    model = trained_run / "merged"
    expected = {name for name in AS_IS if (model / name).is_file()}
    assert expected >= {"model.safetensors", "config.json", "tokenizer.json", "preprocessor_config.json"}
    assert set(repo.files) == expected | {"README.md", "generation_config.json"}
    for name in expected:
        assert repo.files[name] == (model / name).read_bytes(), name
    generation = json.loads(repo.files["generation_config.json"])
    assert "forced_decoder_ids" not in generation
    assert generation == {k: v for k, v in json.loads((model / "generation_config.json").read_text()).items()
                          if k != "forced_decoder_ids"}
    # The card shows what the run measured, before and after, at both contexts.
    card = repo.files["README.md"].decode()
    first, last = _metrics(trained_run)[0], _metrics(trained_run)[-1]
    for key, label in (("wer", "WER, full context"), ("wer_futo", "WER, FUTO's context")):
        row = next(line for line in card.splitlines() if line.startswith(f"| {label}"))
        assert f"{100 * first[key]:.1f} %" in row and f"{100 * last[key]:.1f} %" in row
    assert "base_model: openai/whisper-tiny.en" in card and "ACFT-trained: no" in card
    assert "| method | lora |" in card and "| learning_rate | 0.001 |" in card
    assert "whisper-cli -m" in card and "FUTO Voice Input" in card
    # The token reached the server (it authenticated every call) and nothing else.
    assert all(headers.get("authorization") == f"Bearer {TOKEN}" for _, _, headers, _ in hub.state.requests
               if headers.get("authorization"))
    assert TOKEN not in output
    assert not [name for name, data in repo.files.items() if TOKEN.encode() in data]
    assert not [p for p in trained_run.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]


@pytest.mark.slow
def test_an_interrupted_push_completes_when_run_again(hub, trained_run, capsys, caplog):
    hub.state.interrupt_after_commits = 1  # the line drops in the middle of the push's second commit
    code, output = _push(capsys, caplog, str(trained_run / "merged"), REPO)
    assert code == 2
    error_lines = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and REPO in error_lines[0] and "Traceback" not in output
    assert TOKEN not in output
    partial = set(hub.state.repos[REPO].files)
    hub.state.interrupt_after_commits = None  # the line is back
    code, output = _push(capsys, caplog, str(trained_run / "merged"), REPO)
    assert code == 0, output
    files = hub.state.repos[REPO].files
    assert partial < set(files)
    for name in AS_IS:
        if (trained_run / "merged" / name).is_file():
            assert files[name] == (trained_run / "merged" / name).read_bytes(), name


def test_no_token_is_one_clear_line(monkeypatch, embedded_path, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)  # as if nobody ever logged in here
    assert main(["push", str(embedded_path), REPO]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no Hugging Face token") and "HF_TOKEN" in err and len(err.splitlines()) == 1


def test_a_folder_without_a_model_is_refused(hub, tmp_path, capsys):
    assert main(["push", str(tmp_path), REPO]) == 2
    assert "neither a model folder" in capsys.readouterr().err
    assert hub.state.requests == []
