"""The project's short-context encoder computes what whisper.cpp's audio_ctx computes.

ACFT trains the model through :func:`whisper_tune.models.encode_short`; if that forward
differed from whisper.cpp's ``audio_ctx`` (first 2*n mel frames, first n positions), ACFT
would fix a model for a context no phone ever runs. So: tiny.en exported to f16 GGML,
decoded by whisper.cpp (in a subprocess) at a given audio_ctx, against our HF greedy decoder
at the same context.

whisper.cpp computes in f16 and HF in f32, so at a near-tie between the two best tokens they
may pick differently (measured: 0.09 and 0.31 logits apart on jfk's 4 s at 232 and 432). The
check is therefore, besides exact equality where margins are clear, a teacher-forced one:
at EVERY step of whisper.cpp's output, its token must be HF's best or within
``TIE_MARGIN`` logits of it. The popular wrong implementation (full 30-s encoder, output cut
to n positions) fails that check, so it has teeth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from whisper_tune.models import encode_short

pytestmark = pytest.mark.shared

MAX_TOKENS = 48
TIE_MARGIN = 0.5  # logits
# (seconds of jfk.wav, audio_ctx): 4 s at FUTO Voice Input's context (it loops), at a longer
# short context, and at the full context; the whole clip at FUTO's context.
CASES = ((4.0, 232), (4.0, 432), (4.0, 1500), (11.0, 583))

_WORKER = r"""
import json, sys
import _pywhispercpp as pw
from whisper_tune.audio import load_audio
model, wav, cases, max_tokens = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4])
ctx = pw.whisper_init_from_file_with_params(model, pw.whisper_context_default_params())
if ctx is None:
    sys.exit(3)
audio_all = load_audio(wav)
eot = pw.whisper_token_eot(ctx)
out = []
for seconds, audio_ctx in cases:
    audio = audio_all[: int(seconds * 16000)]
    p = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
    p.greedy = {"best_of": 1}; p.temperature = 0.0; p.temperature_inc = 0.0; p.no_context = True
    p.print_progress = False; p.print_realtime = False; p.print_timestamps = False
    p.n_threads = 2; p.language = "en"; p.max_tokens = max_tokens; p.audio_ctx = audio_ctx
    p.no_timestamps = True; p.single_segment = True; p.suppress_nst = True
    if pw.whisper_full(ctx, p, audio, audio.size) != 0:
        sys.exit(4)
    ids = [pw.whisper_full_get_token_id(ctx, s, i)
           for s in range(pw.whisper_full_n_segments(ctx)) for i in range(pw.whisper_full_n_tokens(ctx, s))]
    out.append([t for t in ids if t < eot])
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def whispercpp_tokens(tmp_path_factory, embedded_path, jfk_wav):
    from whisper_tune.export.exporter import export_ggml

    ggml = export_ggml("embedded:tiny.en", "f16", tmp_path_factory.mktemp("acft-parity") / "tiny.en-f16.bin").path
    proc = subprocess.run(
        [sys.executable, "-c", _WORKER, str(ggml), str(jfk_wav), json.dumps(CASES), str(MAX_TOKENS)],
        capture_output=True, text=True, timeout=600, env={**os.environ, "GGML_NO_BACKTRACE": "1"},
    )
    assert proc.returncode == 0, f"whisper.cpp failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return dict(zip(CASES, json.loads(proc.stdout.strip().splitlines()[-1])))


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
    first_diff = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    assert first_diff >= 5
    # Both hit the token cap (whisper.cpp may emit one token past max_tokens): the loop ACFT is for.
    assert min(len(ours), len(theirs)) >= MAX_TOKENS
    if first_diff < MAX_TOKENS:
        states = encode_short(embedded_model, features[4.0], 232)
        margin = _shortfalls(embedded_model, states, ours[: first_diff] + [theirs[first_diff]])[-1]
        assert margin <= TIE_MARGIN


def test_the_cut_full_encoder_does_not_match_whispercpp(whispercpp_tokens, embedded_model, features):
    """The check above can fail: the wrong implementation's model disagrees with whisper.cpp."""
    worst = 0.0
    for seconds, n_ctx in [(4.0, 232), (4.0, 432), (11.0, 583)]:
        states = _wrong_encoder(embedded_model, features[seconds], n_ctx)
        worst = max(worst, float(_shortfalls(embedded_model, states, whispercpp_tokens[(seconds, n_ctx)]).max()))
    assert worst > 2 * TIE_MARGIN
