"""The project's short-context encoder computes what whisper.cpp's audio_ctx computes.

ACFT trains the model through :func:`whisper_tune.models.encode_short`; if that forward
differed from whisper.cpp's ``audio_ctx`` (first 2*n mel frames, first n positions), ACFT
would fix a model for a context no phone ever runs. So: tiny.en exported to f16 GGML,
decoded by whisper.cpp (in a subprocess) at a given audio_ctx, against our HF greedy decoder
at the same context.

whisper.cpp computes in f16 and HF in f32, so the check is teacher-forced: at EVERY step of
whisper.cpp's output, its token must be HF's best, or within ``TIE_MARGIN`` logits of it (a
float16 rounding tie). Measured with flash attention off (the runner's default): the largest
shortfall over all cases is below 0.01 logits. With whisper.cpp 1.8's flash attention it was
up to 2.7 logits, because that path also attends to stale encoder rows past audio_ctx (see
whisper_tune/whispercpp/runner.py). The popular wrong implementation (full 30-s encoder,
output cut to n positions) misses by 0.4-1.3 logits, so the check has teeth.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from whisper_tune.models import encode_short

pytestmark = pytest.mark.shared

MAX_TOKENS = 48
TIE_MARGIN = 0.05  # logits
# (seconds of jfk.wav, audio_ctx): 4 s at FUTO Voice Input's context (it loops), at a longer
# short context, and at the full context; the whole clip at FUTO's context and cut short
# (400 positions = 8 s of its 11 s).
CASES = ((4.0, 232), (4.0, 432), (4.0, 1500), (11.0, 583), (11.0, 400))

@pytest.fixture(scope="module")
def whispercpp_tokens(tmp_path_factory, embedded_path, jfk_audio):
    """whisper.cpp's greedy tokens for each case, all decoded in one whisper.cpp process (as
    an app does), through the project's runner (flash attention off: see runner.py)."""
    from whisper_tune.export.exporter import export_ggml
    from whisper_tune.transcribe import DecodeOptions
    from whisper_tune.whispercpp import transcribe_ggml

    ggml = export_ggml("embedded:tiny.en", "f16", tmp_path_factory.mktemp("acft-parity") / "tiny.en-f16.bin").path
    clips = [jfk_audio[: int(seconds * 16000)] for seconds, _ in CASES]
    results = transcribe_ggml(ggml, clips, DecodeOptions(max_tokens=MAX_TOKENS), [n for _, n in CASES])
    return {case: result.tokens for case, result in zip(CASES, results, strict=True)}


@pytest.fixture(scope="module")
def features(embedded_processor, jfk_audio):
    from whisper_tune.transcribe.hf import log_mel_batch

    return {seconds: log_mel_batch(embedded_processor, [jfk_audio[: int(seconds * 16000)]], torch.device("cpu"),
                                   torch.float32)
            for seconds in {s for s, _ in CASES}}


def _hf_tokens(model, processor, audio: np.ndarray, n_ctx: int) -> list[int]:
    from whisper_tune.transcribe import DecodeOptions
    from whisper_tune.transcribe.hf import transcribe_clip_contexts

    return transcribe_clip_contexts(model, processor, [audio], [n_ctx], DecodeOptions(max_tokens=MAX_TOKENS))[0].tokens


@torch.no_grad()
def _shortfalls(model, encoder_states: torch.Tensor, tokens: list[int]) -> np.ndarray:
    """Per step: how many logits whisper.cpp's token is below the HF model's best token."""
    prompt = [50257, 50362]  # <|startoftranscript|><|notimestamps|> (tiny.en)
    ids = torch.tensor([prompt + tokens])
    hidden = model.get_decoder()(input_ids=ids, encoder_hidden_states=encoder_states).last_hidden_state
    logits = model.proj_out(hidden[0, len(prompt) - 1 : -1]).float()
    logits[:, 50256:] = float("-inf")  # special and timestamp tokens are suppressed in both decoders
    chosen = logits[torch.arange(len(tokens)), torch.tensor(tokens)]
    return (logits.max(dim=-1).values - chosen).numpy()


def _wrong_encoder(model, features: torch.Tensor, n_ctx: int) -> torch.Tensor:
    """The popular mistake: the full 30-s encoder, its output cut to n_ctx positions."""
    return model.get_encoder()(features).last_hidden_state[:, :n_ctx]


def test_full_context_tokens_are_identical(whispercpp_tokens, embedded_model, embedded_processor, jfk_audio):
    ours = _hf_tokens(embedded_model, embedded_processor, jfk_audio[:64000], 1500)
    assert ours == whispercpp_tokens[(4.0, 1500)]
    assert len(ours) >= 5


@pytest.mark.parametrize("case", CASES)
def test_whispercpp_tokens_are_hf_best_at_every_step(case, whispercpp_tokens, embedded_model, features):
    tokens = whispercpp_tokens[case]
    seconds, n_ctx = case
    states = encode_short(embedded_model, features[seconds], n_ctx)
    shortfall = _shortfalls(embedded_model, states, tokens)
    assert shortfall.max() <= TIE_MARGIN, f"step {int(shortfall.argmax())}: {shortfall.max():.2f} logits below best"
    # Nearly every step is an exact agreement, not a near-tie.
    assert (shortfall > 0).sum() <= max(1, len(tokens) // 10)


def test_short_context_greedy_tokens_agree_until_a_near_tie(whispercpp_tokens, embedded_model, embedded_processor,
                                                            jfk_audio, features):
    """Greedy decoding of 4 s at FUTO's 232 loops in both, identical until the first near-tie."""
    ours = _hf_tokens(embedded_model, embedded_processor, jfk_audio[:64000], 232)
    theirs = whispercpp_tokens[(4.0, 232)]
    first_diff = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
    )
    assert first_diff >= 5
    # Both hit the token cap (whisper.cpp may emit one token past max_tokens): the loop ACFT is for.
    assert min(len(ours), len(theirs)) >= MAX_TOKENS
    if first_diff < MAX_TOKENS:
        states = encode_short(embedded_model, features[4.0], 232)
        margin = _shortfalls(embedded_model, states, [*ours[:first_diff], theirs[first_diff]])[-1]
        assert margin <= TIE_MARGIN


def test_the_cut_full_encoder_does_not_match_whispercpp(whispercpp_tokens, embedded_model, features):
    """The check above can fail: the wrong implementation's model disagrees with whisper.cpp."""
    worst = 0.0
    for seconds, n_ctx in [(4.0, 232), (4.0, 432), (11.0, 583), (11.0, 400)]:
        states = _wrong_encoder(embedded_model, features[seconds], n_ctx)
        worst = max(worst, float(_shortfalls(embedded_model, states, whispercpp_tokens[(seconds, n_ctx)]).max()))
    assert worst > 5 * TIE_MARGIN
