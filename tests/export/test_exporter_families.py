"""Every released Whisper layout through export, inspect, check and whisper.cpp.

Random weights with each family's true layer counts, heads, vocabulary and mel bins, and a
small width (the smallest multiple of 32 that the true head count divides: quantized rows
are 32 values), so all sixteen families run in about a minute. Each is exported to f16, q8_0
and q5_0, loaded by the real whisper.cpp and decoded a few tokens without an error or a
tensor warning. The real embedded tiny.en is covered by test_exporter.py (byte-identical to
whisper.cpp's tools, jfk transcribed) and named here by inspect.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import FAMILY_DTYPES, RELEASE_IDS, RELEASES, family_description, release_layout
from tests.export.whispercpp_subprocess import decode_many_in_subprocess
from whisper_tune.cli.main import main
from whisper_tune.errors import ExportError
from whisper_tune.export.exporter import export_ggml
from whisper_tune.formats.ggml import summarize_ggml
from whisper_tune.verify.check import check_model
from whisper_tune.whisper_constants import WHISPER_CPP_MODEL_TYPES, n_languages

DTYPES = FAMILY_DTYPES
#: whisper.cpp's log lines that mean a tensor did not fit (any of them fails the test).
TENSOR_TROUBLE = re.compile(r"tensor '.*' (has wrong|not found|has unknown)|unknown tensor|wrong shape|"
                            r"failed to load|not all tensors loaded", re.IGNORECASE)


@pytest.mark.slow
def test_whisper_cpp_loads_and_decodes_every_family(family_exports, jfk_wav):
    files = [paths[dtype] for paths in family_exports.values() for dtype in DTYPES]
    runs = decode_many_in_subprocess(files, jfk_wav, language="en")
    for (release, layout_name, vocab) in RELEASES:
        layout = release_layout(layout_name)
        for dtype in DTYPES:
            run = runs[family_exports[release][dtype]]
            assert run.loaded and run.status == 0 and run.text is not None, (release, dtype, run.log[-1500:])
            assert not TENSOR_TROUBLE.search(run.log), (release, dtype, run.log[-1500:])
            # whisper.cpp's own view of the file: type by encoder depth, languages and mel bins.
            model_type = WHISPER_CPP_MODEL_TYPES[layout.encoder_layers]
            assert re.search(rf"type\s+= \d+ \({model_type}", run.log), (release, run.log[-1500:])
            assert f"n_langs       = {n_languages(vocab)}" in run.log
            assert f"n_mels        = {layout.n_mels}" in run.log
            assert f"n_text_layer  = {layout.decoder_layers}" in run.log


@pytest.mark.parametrize(("release", "layout_name", "vocab"), RELEASES, ids=RELEASE_IDS)
def test_inspect_names_the_family(family_exports, release, layout_name, vocab, capsys):
    expected = family_description(release, layout_name, vocab)
    for dtype in DTYPES:
        report = summarize_ggml(family_exports[release][dtype])
        assert report["family"] == expected
        assert report["problems"] == []
    assert main(["inspect", str(family_exports[release]["q5_0"])]) == 0
    assert expected in capsys.readouterr().out


def test_inspect_names_the_real_tiny_en(embedded_ggml):
    for path in embedded_ggml.values():
        assert summarize_ggml(path)["family"] == "tiny.en, English-only, 80 mel"


@pytest.mark.parametrize("release", ["large-v3-turbo", "distil-large-v3", "base.en", "small"])
def test_check_passes_every_family(family_exports, release):
    report = check_model(family_exports[release]["model"])
    assert report.ok, [f.to_dict() for f in report.findings]
    assert "tokenizer against vocabulary size" in report.checked


# --- a tokenizer of another vocabulary --------------------------------------------------

#: (model release, release whose tokenizer is put beside it, what the message must say)
MISMATCHES = [
    ("large-v3", "large-v2", r"<\|transcribe\|> has id 50359, but a model with 51866 token embeddings "
                             r"\(multilingual, 100 languages\) has it at 50360; it is the tokenizer of a "
                             r"multilingual, 99 languages model \(51865 tokens\)"),
    ("small", "small.en", r"<\|endoftext\|> has id 50256, but a model with 51865 token embeddings "
                          r"\(multilingual, 99 languages\) has it at 50257; it is the tokenizer of a "
                          r"English-only model \(51864 tokens\)"),
    ("base.en", "base", r"<\|endoftext\|> has id 50257, but a model with 51864 token embeddings \(English-only\)"),
]
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json", "special_tokens_map.json",
                   "tokenizer_config.json")


def _with_tokenizer_of(family_exports, release: str, donor: str, folder: Path) -> Path:
    shutil.copytree(family_exports[release]["model"], folder)
    for name in TOKENIZER_FILES:
        shutil.copy(family_exports[donor]["model"] / name, folder / name)
    return folder


@pytest.mark.parametrize(("release", "donor", "message"), MISMATCHES, ids=[m[0] for m in MISMATCHES])
def test_check_and_export_refuse_a_tokenizer_of_another_vocabulary(family_exports, tmp_path, release, donor,
                                                                   message, capsys):
    model = _with_tokenizer_of(family_exports, release, donor, tmp_path / "model")
    report = check_model(model)
    found = [f for f in report.findings if f.where == "tokenizer"]
    assert not report.ok and len(found) == 1 and re.search(message, found[0].message)
    assert "Copy the tokenizer files" in found[0].message
    with pytest.raises(ExportError, match=message):
        export_ggml(model, "q5_0", tmp_path / "m.bin")
    assert not (tmp_path / "m.bin").exists()
    assert main(["check", str(model)]) != 0
    assert "the tokenizer does not match the model" in capsys.readouterr().out
