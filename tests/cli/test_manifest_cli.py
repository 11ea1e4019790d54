"""`whisper-tune manifest build|validate`: exit codes, one-line errors, every option in --help."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from whisper_tune.cli.main import main

BUILD_OPTIONS = [
    "--output", "--transcripts", "--text-ext", "--split", "--seed", "--audio-dir", "--root", "--path-column",
    "--text-column", "--id-column", "--speaker-column", "--language-column", "--language",
    "--speaker-from-dir", "--hf-split", "--hf-config", "--strict", "--acft", "--min-duration", "--silence-db",
]


def clip(path: Path, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (0.1 * rng.standard_normal(int(seconds * 16_000))).astype(np.float32), 16_000)


@pytest.fixture
def recordings(tmp_path: Path) -> Path:
    for i in range(4):
        clip(tmp_path / "rec" / f"c{i}.wav", 1.0 + i, seed=i)
        (tmp_path / "rec" / f"c{i}.txt").write_text(f"clip {i}", encoding="utf-8")
    sf.write(tmp_path / "rec" / "hush.wav", np.zeros(16_000, dtype=np.float32), 16_000)
    (tmp_path / "rec" / "hush.txt").write_text("silence", encoding="utf-8")
    return tmp_path / "rec"


def test_build_and_validate(recordings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data" / "train.csv"
    assert main(["manifest", "build", str(recordings), "-o", str(out), "--split", "val=0.25", "--seed", "1"]) == 0
    printed = capsys.readouterr().out
    assert "hush.wav" in printed and "silent" in printed
    assert "kept 4 of 5 clip(s)" in printed and str(out.with_name("train.val.csv")) in printed
    assert out.is_file() and out.with_name("train.val.csv").is_file() and out.with_name("train.report.json").is_file()
    assert main(["manifest", "validate", str(out)]) == 0
    assert "pass; 0 problem(s)" in capsys.readouterr().out
    assert out.with_name("train.validation.json").is_file()
    assert main(["manifest", "build", str(recordings), "-o", str(tmp_path / "s.csv"), "--strict"]) == 2
    captured = capsys.readouterr()
    assert "hush.wav" in captured.out  # the table comes before the error
    # stderr: the progress log ("reading ... as folder"), then the error as its last line.
    assert captured.err.splitlines()[-1].startswith("error: 1 problem(s) found and --strict is set")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["manifest", "build", "{tmp}/missing", "-o", "{tmp}/m.csv"], "missing: no such file or folder"),
        (
            ["manifest", "build", "{tmp}/list.csv", "-o", "{tmp}/m.csv"],
            "no transcript column; looked for text|sentence",
        ),
        (["manifest", "build", "{tmp}/bin.csv", "-o", "{tmp}/m.csv"], "bin.csv: line 1: found 1 column(s)"),
        (["manifest", "build", "{tmp}", "-o", "{tmp}/m.csv", "--split", "val=2"], "must be between 0 and 1"),
        (["manifest", "validate", "{tmp}/none.csv"], "none.csv: no such manifest"),
        (["manifest", "build", "{tmp}", "-o", "{tmp}/m.csv", "--min-duration", "40"], "min_duration=40.0"),
    ],
)
def test_bad_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    (tmp_path / "list.csv").write_text("path,words\na.wav,hello\n", encoding="utf-8")
    (tmp_path / "bin.csv").write_bytes(b"\x00\x01\x02garbage\xff\n\x00")
    code = main([a.format(tmp=tmp_path) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    # stderr may first log what is being read; the error is one line, the last.
    *log, last = err.splitlines()
    assert last.startswith("error: ") and message in last and "Traceback" not in err
    assert all(line.startswith("reading ") for line in log), log


def test_help_lists_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["manifest", "build", "--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    missing = [option for option in BUILD_OPTIONS if option not in text]
    assert not missing
    with pytest.raises(SystemExit):
        main(["manifest", "validate", "--help"])
    assert "--root" in capsys.readouterr().out
    assert main(["manifest"]) == 2


def test_console_script_reports_errors_without_traceback(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("whisper-tune")
    if not script.exists():
        pytest.skip(f"{script} is not installed (pip install -e .)")
    done = subprocess.run(
        [str(script), "manifest", "build", str(tmp_path / "nothing"), "-o", str(tmp_path / "m.csv")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "nothing: no such file or folder" in done.stderr
    assert "Traceback" not in done.stderr
