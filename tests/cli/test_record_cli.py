"""`whisper-tune record`: options, the next commands on stdout, one-line errors with exit 2."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from whisper_tune.cli.main import main

OPTIONS = ["--terms", "--out", "--sentences", "--per-term", "--voice", "--templates", "--port", "--no-browser"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def take() -> bytes:
    t = np.arange(16_000) / 16_000
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 200 * t) * np.hanning(len(t))).astype(np.float32), 16_000, format="WAV")
    return buffer.getvalue()


def post(url: str, data: bytes = b"") -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method="POST"), timeout=10) as response:
        return json.loads(response.read())


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["record", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in OPTIONS:
        assert option in text


def test_record_then_finish_prints_the_next_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    terms = tmp_path / "terms.txt"
    terms.write_text("kubectl\n", encoding="utf-8")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    errors: list[BaseException] = []

    def user() -> None:  # what the page does: one take, then Finish
        try:
            for _ in range(100):
                try:
                    state = json.loads(urllib.request.urlopen(f"{base}/api/state", timeout=5).read())
                    break
                except OSError:
                    time.sleep(0.1)
            post(f"{base}/api/takes/{state['prompts'][0]['id']}", take())
            post(f"{base}/api/finish")
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    helper = threading.Thread(target=user)
    helper.start()
    out = tmp_path / "rec"
    code = main(
        ["record", "--terms", str(terms), "--out", str(out), "--port", str(port), "--no-browser", "--voice", "al"]
    )
    helper.join(timeout=30)
    assert not errors and code == 0
    captured = capsys.readouterr()
    assert f"recording page: {base}/" in captured.err
    assert "1 of 4 prompt(s) recorded" in captured.err
    commands = [line for line in captured.out.splitlines() if line.startswith("whisper-tune ")]
    assert commands == [
        f"whisper-tune manifest build {out}/train --speaker-from-dir -o data/train.csv",
        "whisper-tune train --config configs/tiny_lora.yaml train_manifest=data/train.csv "
        "validation_manifest=null output_dir=runs/mine --merge",
    ]
    assert (out / "train" / "al" / "kubectl-alone-1.wav").is_file()


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        (b"", "the terms file is empty"),
        (b"\x00\x01\x02binary", "looks like a binary file"),
        (b"one two three four five six seven eight nine ten eleven\n", "line 1: 11 words"),
    ],
)
def test_bad_terms_exit_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], terms: bytes, expected: str
) -> None:
    path = tmp_path / "terms.txt"
    path.write_bytes(terms)
    assert main(["record", "--terms", str(path), "--out", str(tmp_path / "rec"), "--no-browser"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}") and expected in err and "Traceback" not in err
    assert not (tmp_path / "rec").exists()


def test_port_in_use_and_unwritable_folder_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    terms = tmp_path / "terms.txt"
    terms.write_text("kubectl\n", encoding="utf-8")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert (
            main(["record", "--terms", str(terms), "--out", str(tmp_path / "rec"), "--port", str(port), "--no-browser"])
            == 2
        )
    assert f"error: --port {port}: the port is in use" in capsys.readouterr().err
    blocker = tmp_path / "blocker"
    blocker.write_text("x", encoding="utf-8")
    assert main(["record", "--terms", str(terms), "--out", str(blocker / "rec"), "--no-browser"]) == 2
    assert "cannot write there" in capsys.readouterr().err
    assert main(["record", "--out", str(tmp_path / "rec"), "--no-browser"]) == 2
    assert "nothing to record" in capsys.readouterr().err
