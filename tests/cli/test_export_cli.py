"""CLI: export, inspect and merge (in-process through cli.main, as a user runs them)."""

from __future__ import annotations

import json
import shutil

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
