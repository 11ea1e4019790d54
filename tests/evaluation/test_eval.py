"""evaluate(): what FUTO documents for stock tiny.en on short audio, on both backends."""

from __future__ import annotations

import json

import pytest

from tests.jfk_cuts import jfk_cuts
from whisper_tune.errors import ConfigError
from whisper_tune.evaluation.eval import evaluate


@pytest.fixture(scope="module")
def fellow_americans(jfk_audio):
    """jfk-a: 2.7 s of "And so my fellow Americans", which stock tiny.en loops on at +8."""
    return [clip for clip in jfk_cuts(jfk_audio) if clip.id == "jfk-a"]


@pytest.mark.parametrize("backend", ["hf", "whispercpp"])
def test_short_context_loops_and_full_context_does_not(backend, fellow_americans, embedded_ggml, embedded_model,
                                                       embedded_processor, tmp_path):
    spec = str(embedded_ggml["f16"]) if backend == "whispercpp" else "embedded:tiny.en"
    kwargs = {"hf_model": embedded_model, "hf_processor": embedded_processor}
    full = evaluate(spec, fellow_americans, backend, "full", **kwargs)
    short = evaluate(spec, fellow_americans, backend, "futo+8", report_dir=tmp_path, **kwargs)
    # HF hears "And so am I fellow Americans." here, whisper.cpp the exact words: 2 errors at most
    assert full.loops == 0 and full.wer <= 0.4
    assert "fellow americans" in full.rows[0].hypothesis.lower()
    assert short.loops == 1 and short.rows[0].audio_ctx == 143  # ceil(43200/320) + 8
    assert short.wer > 5.0  # the loop repeats the phrase dozens of times: a WER blow-up
    assert short.rows[0].loop_reasons and "token cap" in " ".join(short.rows[0].loop_reasons)
    written = json.loads((tmp_path / "eval.json").read_text())
    assert written["totals"]["loops"] == 1 and written["audio_ctx"] == "futo+8" and written["backend"] == backend
    assert "| jfk-a | 143 |" in (tmp_path / "eval.md").read_text()


def test_unknown_backend_is_refused(fellow_americans):
    with pytest.raises(ConfigError, match="unknown backend 'onnx'"):
        evaluate("embedded:tiny.en", fellow_americans, "onnx")


@pytest.mark.parametrize("backend", ["hf", "whispercpp"])
def test_each_clip_decodes_in_its_manifest_language(backend, family_exports, jfk_audio):
    """A multilingual model (random weights: near-uniform language logits, so the prompt
    decides the tokens) and one clip labelled German, then French, in the manifest: each
    decodes exactly as with that language given, and the report says where it came from."""
    from dataclasses import replace

    from whisper_tune.transcribe.types import DecodeOptions

    model = family_exports["tiny"]["model" if backend == "hf" else "f16"]
    cut = next(c for c in jfk_cuts(jfk_audio) if c.id == "jfk-b")
    mixed = [replace(cut, id="as-de", language="German"), replace(cut, id="as-fr", language="fr")]
    options = DecodeOptions(max_tokens=16)
    settings = {"backend": backend, "audio_ctx": 160}
    if backend == "whispercpp":
        settings["n_threads"] = 1
    report = evaluate(model, mixed, options=options, **settings)
    assert report.settings["language"] == "per clip, from the manifest: de 1, fr 1"
    for row, language in zip(report.rows, ("de", "fr"), strict=True):
        given = evaluate(model, [cut], options=replace(options, language=language), **settings)
        assert row.hypothesis == given.rows[0].hypothesis
        assert given.settings["language"] == language  # the given one, as every decoding option
    assert report.rows[0].hypothesis != report.rows[1].hypothesis
