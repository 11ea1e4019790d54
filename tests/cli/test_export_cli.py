"""CLI: export, inspect and merge (in-process through cli.main, as a user runs them)."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whisper_tune.cli.main import main
from whisper_tune.formats.ggml import read_ggml


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_random_dir):
    out = tmp_path_factory.mktemp("cli-export") / "m-q8_0.bin"
    assert main(["-q", "export", str(tiny_random_dir), "--dtype", "q8_0", "--out", str(out)]) == 0
    return out


def test_export_writes_file_and_sidecar(exported, capsys):
    assert read_ggml(exported).dtype == "q8_0"
    assert json.loads(exported.with_name(exported.name + ".json").read_text())["dtype"] == "q8_0"


def test_no_sync_export_writes_the_same_file(exported, tiny_random_dir, tmp_path, fsynced_sizes, capsys):
    """--no-sync reaches the library: the same bytes as the synced export, the GGML file not fsynced."""
    synced = fsynced_sizes
    out = tmp_path / "fast.bin"
    assert main(["export", str(tiny_random_dir), "--dtype", "q8_0", "--out", str(out), "--no-sync"]) == 0
    assert out.read_bytes() == exported.read_bytes()
    assert synced == [out.with_name(out.name + ".json").stat().st_size]  # only the sidecar was synced
    assert str(out) in capsys.readouterr().out


def test_export_into_a_whisper_cpp_checkout(tmp_path, tiny_random_dir, capsys):
    (tmp_path / "wcpp").mkdir()
    code = main(["-q", "export", str(tiny_random_dir), "--dtype", "q5_0", "--whisper-cpp-dir", str(tmp_path / "wcpp"),
                 "--name", "mine"])
    assert code == 0
    assert (tmp_path / "wcpp" / "models" / "ggml-mine-q5_0.bin").is_file()
    assert "ggml-mine-q5_0.bin" in capsys.readouterr().out


def test_export_refusal_is_one_line_and_exit_2(tmp_path, tiny_random_dir, capsys):
    model = tmp_path / "model"
    shutil.copytree(tiny_random_dir, model)
    config = json.loads((model / "config.json").read_text())
    config["vocab_size"] = 50000
    (model / "config.json").write_text(json.dumps(config))
    assert main(["-q", "export", str(model), "--dtype", "f16", "--out", str(tmp_path / "x.bin")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "vocab_size is 50000" in err and "Traceback" not in err
    assert not (tmp_path / "x.bin").exists()


def test_export_needs_exactly_one_destination(tiny_random_dir, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", str(tiny_random_dir), "--dtype", "f16"])
    assert exit_info.value.code == 2
    assert "one of the arguments --out --whisper-cpp-dir is required" in capsys.readouterr().err


def test_inspect_text_and_json(exported, capsys):
    assert main(["inspect", str(exported)]) == 0
    out = capsys.readouterr().out
    assert "dtype q8_0 (ftype 2007)" in out and "0 problem(s)" in out
    assert main(["inspect", str(exported), "--json", "--check-values"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_tensors"] == 2 * 15 + 2 * 24 + 11 and report["problems"] == []


def test_inspect_exits_1_on_a_broken_file(exported, tmp_path, capsys):
    broken = tmp_path / "broken.bin"
    broken.write_bytes(exported.read_bytes()[:-100])
    assert main(["inspect", str(broken)]) == 1
    assert "error: tensor decoder.ln.bias is truncated" in capsys.readouterr().out


def test_inspect_of_a_non_ggml_file_is_an_error(tmp_path, capsys):
    (tmp_path / "x.bin").write_bytes(b"\x00" * 64)
    assert main(["inspect", str(tmp_path / "x.bin")]) == 2
    assert "not a whisper.cpp GGML model" in capsys.readouterr().err


def test_merge_cli(tiny_random_dir, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from peft import LoraConfig, get_peft_model
    from transformers import WhisperForConditionalGeneration

    base = WhisperForConditionalGeneration.from_pretrained(tiny_random_dir, dtype=torch.float32)
    get_peft_model(base, LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False)).save_pretrained(
        tmp_path / "a"
    )
    assert main(["-q", "merge", str(tmp_path / "a"), str(tmp_path / "merged")]) == 0
    assert (tmp_path / "merged" / "model.safetensors").is_file() and (tmp_path / "merged" / "vocab.json").is_file()
    assert str(tmp_path / "merged") in capsys.readouterr().out


# --- faults, as a user meets them: real processes, real limits, a real SIGKILL -------------

WHISPER_TUNE = Path(sys.executable).with_name("whisper-tune")


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # so write() fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_export_beyond_a_file_size_limit_is_exit_2_and_leaves_nothing(tmp_path, embedded_path):
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run([str(WHISPER_TUNE), "export", "embedded:tiny.en", "--dtype", "q8_0", "--out",
                             str(out / "ggml.bin")], capture_output=True, text=True, timeout=600,
                            preexec_fn=_limit_file_size(5_000_000))
    assert result.returncode == 2, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"error: {out / 'ggml.bin'}: cannot write: the file is larger than this system allows")
    assert "ulimit -f" in error and "Traceback" not in result.stderr
    assert os.listdir(out) == []  # hidden names included


def _writing_into(pid: int, folder: Path) -> bool:
    """Whether process ``pid`` holds a file in ``folder`` open with some bytes in it."""
    fds = Path(f"/proc/{pid}/fd")
    for fd in fds.iterdir() if fds.is_dir() else ():
        try:
            if os.readlink(fd).startswith(f"{folder}/") and os.stat(fd).st_size > 0:
                return True
        except OSError:
            continue
    return False


def test_export_killed_mid_write_then_rerun_leaves_one_finished_file(tmp_path, embedded_path):
    out = tmp_path / "out"
    out.mkdir()
    command = [str(WHISPER_TUNE), "export", "embedded:tiny.en", "--dtype", "f16", "--out", str(out / "ggml.bin")]
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while not _writing_into(child.pid, out):
        assert child.poll() is None and time.monotonic() < deadline, "the export ended before it was caught writing"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert not (out / "ggml.bin").exists()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    assert sorted(os.listdir(out)) == ["ggml.bin", "ggml.bin.json"]  # no temporary, hidden or not
    assert read_ggml(out / "ggml.bin").dtype == "f16"
