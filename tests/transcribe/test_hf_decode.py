"""Our greedy HF decoder: real tiny.en behaviour on real speech."""

from __future__ import annotations

import numpy as np
import torch

from whisper_tune.models import encode_short, futo_audio_ctx
from whisper_tune.transcribe import DecodeOptions
from whisper_tune.transcribe.hf import transcribe_arrays, transcribe_clip_contexts


def _normalize(text: str) -> str:
    from whisper_tune.evaluation.normalize import normalize_text

    return normalize_text(text, "en")


def test_jfk_exact_sentence(embedded_model, embedded_processor, jfk_audio, jfk_text):
    [result] = transcribe_arrays(embedded_model, embedded_processor, [jfk_audio])
    assert _normalize(result.text) == _normalize(jfk_text)
    assert result.tokens[-1] == 13  # "." then end-of-text, which is not part of the text
    assert abs(result.duration - 11.0) < 0.01
    assert not result.hit_token_cap


def test_batching_does_not_change_results(embedded_model, embedded_processor, jfk_audio):
    clips = [jfk_audio[: 16000 * 3], jfk_audio, jfk_audio[16000 * 2 : 16000 * 7]]
    batched = transcribe_arrays(embedded_model, embedded_processor, clips, batch_size=8)
    single = [transcribe_arrays(embedded_model, embedded_processor, [c])[0] for c in clips]
    assert [r.tokens for r in batched] == [r.tokens for r in single]


def test_batched_greedy_gives_the_one_by_one_tokens_on_real_clips(embedded_model, embedded_processor, real_clips_dir):
    """Batched evaluation decoding (eval, verify, training's validation) is only faster: every
    real clip's tokens equal its own batch-1 decoding, at the full and at FUTO's context."""
    from whisper_tune.audio import load_audio

    clips = [load_audio(p) for p in sorted(real_clips_dir.glob("*.wav"))[:8]]
    assert len(clips) == 8
    for contexts in ([None] * len(clips), [futo_audio_ctx(len(c), floor=None) for c in clips]):
        options = DecodeOptions(max_tokens=64)
        batched = transcribe_clip_contexts(embedded_model, embedded_processor, clips, contexts, options, batch_size=8)
        single = [transcribe_clip_contexts(embedded_model, embedded_processor, [c], [x], options, batch_size=1)[0]
                  for c, x in zip(clips, contexts, strict=True)]
        assert [r.tokens for r in batched] == [r.tokens for r in single]


def test_short_encoder_at_full_context_equals_stock_encoder(embedded_model, embedded_processor, jfk_audio):
    features = embedded_processor.feature_extractor(jfk_audio, sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        stock = embedded_model.get_encoder()(features).last_hidden_state
        ours = encode_short(embedded_model, features, 1500)
        short = encode_short(embedded_model, features, 300)
    assert torch.equal(stock, ours)
    assert short.shape == (1, 300, 384)


def test_futo_context_loops_on_short_clip_like_futo_reports(embedded_model, embedded_processor, jfk_audio):
    """Stock tiny.en on the first 4 s of jfk at FUTO's context repeats itself to the cap."""
    clip = jfk_audio[: 16000 * 4]
    assert futo_audio_ctx(len(clip)) == 232
    [full] = transcribe_arrays(embedded_model, embedded_processor, [clip])
    [short] = transcribe_clip_contexts(embedded_model, embedded_processor, [clip], [232],
                                       DecodeOptions(max_tokens=96))
    assert not full.hit_token_cap and len(full.tokens) < 12
    assert short.hit_token_cap and len(short.tokens) == 96
    assert short.text.lower().count("ask") >= 5


def test_futo_audio_ctx_formula():
    assert futo_audio_ctx(16000) == 160  # 50 + 32 is under FUTO Keyboard's floor
    assert futo_audio_ctx(16000, floor=None) == 82  # FUTO Voice Input: no floor
    assert futo_audio_ctx(16000 * 10) == 532
    assert futo_audio_ctx(16000 * 10 + 1) == 533  # ceil
    assert futo_audio_ctx(16000 * 40) == 1500  # clamped
    assert futo_audio_ctx(16000 * 4, offset=8, floor=None) == 208


def test_silence_decodes_to_little(embedded_model, embedded_processor):
    [result] = transcribe_arrays(embedded_model, embedded_processor, [np.zeros(16000 * 2, np.float32)],
                                 DecodeOptions(max_tokens=32))
    assert len(result.tokens) < 32
