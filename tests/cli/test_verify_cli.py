"""CLI: check, verify and eval (in-process through cli.main, as a user runs them)."""

from __future__ import annotations

import json
import shutil
import struct

import pytest

from tests.jfk_cuts import jfk_cuts
from whisper_tune.audio import write_wav
from whisper_tune.cli.main import main
from whisper_tune.data.manifest import ManifestRow, write_manifest


@pytest.fixture(scope="module")
def cut_files(tmp_path_factory, jfk_audio):
    """Two jfk cuts as wav files with a .txt transcript beside each, and a manifest of them."""
    folder = tmp_path_factory.mktemp("cli-cuts")
    rows = []
    for clip in jfk_cuts(jfk_audio)[1:3]:  # "ask not", "what your country can do for you"
        wav = folder / f"{clip.id}.wav"
        write_wav(wav, clip.audio)
        wav.with_suffix(".txt").write_text(clip.text)
        rows.append(ManifestRow(clip.id, wav, clip.text, len(clip.audio) / 16_000, 16_000, 1))
    return [r.audio for r in rows], write_manifest(rows, folder / "manifest.csv")


@pytest.mark.parametrize("command", ["check", "verify", "eval"])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: whisper-tune {command}" in capsys.readouterr().out


def test_check_exit_codes_and_fix(tiny_random_dir, tmp_path, capsys):
    model = shutil.copytree(tiny_random_dir, tmp_path / "model")
    assert main(["check", str(model)]) == 0
    assert "ready to convert" in capsys.readouterr().out
    (model / "merges.txt").unlink()
    assert main(["check", str(model), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["findings"][0]["where"] == "merges.txt"
    assert main(["check", str(model), "--fix"]) == 0
    assert "merges.txt: written from tokenizer.json" in capsys.readouterr().out


def test_verify_passes_an_export(embedded_ggml, cut_files, tmp_path, capsys):
    audio, _ = cut_files
    code = main(["verify", str(embedded_ggml["q8_0"]), *map(str, audio), "--reference", "embedded:tiny.en",
                 "--report", str(tmp_path / "report")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: WER difference (whisper.cpp - reference) +0.0% within 2.0%" in out
    assert "family: tiny.en, English-only, 80 mel\nlanguage: en (English-only model)\n" in out
    written = json.loads((tmp_path / "report" / "verify.json").read_text())
    assert written["passed"] is True and written["exact_match_rate"] == 1.0
    assert written["family"] == "tiny.en, English-only, 80 mel" and written["audio_ctx"] is None


def test_verify_fails_a_damaged_file_with_exit_1_and_no_traceback(embedded_ggml, cut_files, tmp_path, capsys):
    _, manifest = cut_files
    bad = tmp_path / "bad.bin"
    data = bytearray(embedded_ggml["f16"].read_bytes())
    struct.pack_into("<i", data, 4, 51000)  # n_vocab
    bad.write_bytes(data)
    code = main(["verify", str(bad), "--reference", "embedded:tiny.en", "--data", str(manifest)])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("error: bad.bin: verification failed at integrity: the file is damaged")
    assert "Traceback" not in captured.err + captured.out


@pytest.mark.parametrize("case", ["missing file", "no clips", "both clip sources"])
def test_verify_bad_input_is_exit_2(case, embedded_ggml, cut_files, tmp_path, capsys):
    audio, manifest = cut_files
    args = {
        "missing file": [str(tmp_path / "none.bin"), str(audio[0])],
        "no clips": [str(embedded_ggml["f16"])],
        "both clip sources": [str(embedded_ggml["f16"]), str(audio[0]), "--data", str(manifest)],
    }[case]
    assert main(["verify", *args, "--reference", "embedded:tiny.en"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_eval_whispercpp_on_a_manifest(embedded_ggml, cut_files, tmp_path, capsys):
    _, manifest = cut_files
    code = main(["eval", str(embedded_ggml["f16"]), "--data", str(manifest), "--backend", "whispercpp",
                 "--audio-ctx", "futo", "--json", "--report", str(tmp_path)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["backend"] == "whispercpp" and report["audio_ctx"] == "futo"
    assert [c["audio_ctx"] for c in report["clips"]] == [160, 177]  # floor 160; ceil(46400/320)+32
    assert (tmp_path / "eval.md").is_file()
    assert main(["eval", str(embedded_ggml["f16"]), "--data", str(manifest), "--audio-ctx", "half"]) == 2
