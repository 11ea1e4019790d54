"""whisper.cpp in a child process: same tokens as our HF decoder, and every failure contained."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from whisper_tune.errors import WhisperCppError
from whisper_tune.evaluation.metrics import word_errors
from whisper_tune.models import futo_audio_ctx
from whisper_tune.transcribe import DecodeOptions
from whisper_tune.transcribe.hf import transcribe_clip_contexts
from whisper_tune.whispercpp import (
    WhisperCppRunError,
    aligned_options,
    probe_load,
    transcribe_ggml,
)


def test_jfk_gives_the_hf_decoders_tokens_and_per_clip_contexts(embedded_ggml, embedded_model, embedded_processor,
                                                                 jfk_audio, jfk_text):
    cut = jfk_audio[5 * 16_000:int(7.9 * 16_000)]  # "what your country can do for you"
    clips, contexts = [jfk_audio, cut], [None, 300]
    suppress = embedded_model.generation_config.suppress_tokens
    cpp = transcribe_ggml(embedded_ggml["f16"], clips, DecodeOptions(), contexts, sources=["jfk", "cut"],
                          suppress_tokens=suppress)
    hf = transcribe_clip_contexts(embedded_model, embedded_processor, clips, contexts, aligned_options(DecodeOptions()))
    assert cpp[0].tokens == hf[0].tokens  # identical weights, identical decoding rules
    assert word_errors(jfk_text, cpp[0].text).errors == 0
    assert (cpp[0].source, cpp[0].audio_ctx, cpp[0].duration, cpp[0].hit_token_cap) == ("jfk", None, 11.0, False)
    assert cpp[0].seconds > 0 and 0 < cpp[0].real_time_factor < 10
    assert cpp[1].audio_ctx == 300
    assert word_errors("what your country can do for you", cpp[1].text).rate <= 0.15


def test_token_cap_is_the_same_on_both_backends(embedded_ggml, embedded_model, embedded_processor, jfk_audio):
    options = DecodeOptions(max_tokens=5)
    cpp = transcribe_ggml(embedded_ggml["q8_0"], [jfk_audio], options)[0]
    hf = transcribe_clip_contexts(embedded_model, embedded_processor, [jfk_audio], [None], options)[0]
    assert len(cpp.tokens) == 5 and cpp.hit_token_cap
    assert cpp.tokens == hf.tokens and hf.hit_token_cap


def test_probe_load_of_a_good_file(embedded_ggml):
    result = probe_load(embedded_ggml["f16"])
    assert result.ok and result.reason == ""
    assert result.model["n_vocab"] == 51864 and result.model["ftype"] == 1 and result.model["type"] == "tiny"


def _damaged(kind: str, good: bytes) -> bytes:
    if kind == "truncated":
        return good[: len(good) // 2]
    if kind == "unknown ftype":
        data = bytearray(good)
        struct.pack_into("<i", data, 4 + 10 * 4, 1234)  # the 11th hparam
        return bytes(data)
    return b"RIFF" + bytes(4000)  # not GGML at all


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("truncated", "failed to load the model; whisper.cpp said: whisper_model_load: ERROR not all tensors loaded"),
        ("unknown ftype", "aborted (SIGABRT) while loading the model; whisper.cpp said: "),
        ("not ggml", "failed to load the model; whisper.cpp said: whisper_model_load: invalid model data (bad magic)"),
    ],
)
def test_probe_load_reports_failures_with_whisper_cpps_log(embedded_ggml, tmp_path, kind, expected):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(_damaged(kind, embedded_ggml["f16"].read_bytes()))
    result = probe_load(bad, timeout=60)
    assert not result.ok
    assert expected in result.reason
    if kind == "unknown ftype":
        assert "GGML_ASSERT" in result.reason and "GGML_ASSERT" in result.log


def test_decoding_a_file_whisper_cpp_cannot_load_raises_a_typed_error(embedded_ggml, tmp_path, jfk_audio):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(_damaged("unknown ftype", embedded_ggml["f16"].read_bytes()))
    with pytest.raises(WhisperCppRunError, match=r"aborted \(SIGABRT\) while loading the model") as caught:
        transcribe_ggml(bad, [jfk_audio])
    assert caught.value.reason == "crashed" and "GGML_ASSERT" in caught.value.log


def test_a_missing_path_is_an_error_not_a_download(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("tiny.en", str(tmp_path / "ggml-tiny.en.bin")):
        with pytest.raises(WhisperCppError, match="no such GGML model file"):
            probe_load(name)
        with pytest.raises(WhisperCppError, match="no such GGML model file"):
            transcribe_ggml(name, [np.zeros(16_000, np.float32)])
    assert list(tmp_path.iterdir()) == []


def test_a_hang_is_killed_at_the_time_limit(embedded_ggml, jfk_audio):
    with pytest.raises(WhisperCppRunError, match=r"did not finish within 0 s .*\(killed\)") as caught:
        transcribe_ggml(embedded_ggml["f16"], [jfk_audio] * 4, timeout=0.3)
    assert caught.value.reason == "timeout"


def test_beam_search_decodes(embedded_ggml, jfk_audio):
    cut = jfk_audio[5 * 16_000:int(7.9 * 16_000)]
    result = transcribe_ggml(embedded_ggml["q8_0"], [cut], DecodeOptions(beam_size=5))[0]
    assert word_errors("what your country can do for you", result.text).errors == 0
    assert not result.hit_token_cap


def test_a_clip_decodes_the_same_whatever_clip_came_before(embedded_ggml, real_clips_dir):
    """At a short audio_ctx, whisper.cpp's flash attention reads stale encoder rows (see
    runner.py); with it off (our default) a clip's tokens do not depend on the previous clip."""
    from whisper_tune.audio import load_audio

    before = load_audio(real_clips_dir / "speechbrain_5.wav")  # ends "... in this regard"
    clip = load_audio(real_clips_dir / "coquitts_4.wav")
    contexts = [futo_audio_ctx(len(before), offset=64, floor=None), futo_audio_ctx(len(clip), offset=64, floor=None)]
    ggml = embedded_ggml["f16"]
    alone = transcribe_ggml(ggml, [clip], contexts=contexts[1:])[0]
    after = transcribe_ggml(ggml, [before, clip], contexts=contexts)[1]
    assert after.tokens == alone.tokens
    # whisper.cpp 1.8.5's flash path leaks the previous clip's words into this one; if this
    # starts to fail, a newer whisper.cpp masks the padding and flash attention can be on again.
    leaked = transcribe_ggml(ggml, [before, clip], contexts=contexts, flash_attn=True)[1]
    assert leaked.tokens != alone.tokens and "regard" in leaked.text.lower()
