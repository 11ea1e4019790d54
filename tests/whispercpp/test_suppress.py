"""whisper.cpp masks exactly the reference model's suppress list (suppress_nst + a regex)."""

from __future__ import annotations

import numpy as np

from tests.conftest import rewrite_ggml
from whisper_tune.export.exporter import export_ggml
from whisper_tune.formats.ggml import read_ggml
from whisper_tune.transcribe import DecodeOptions
from whisper_tune.whispercpp import transcribe_ggml
from whisper_tune.whispercpp.suppress import non_speech_ids, plan_suppression, token_regex

MUSIC_1, MUSIC_2, FULL_STOP = 17992, 20724, 13  # b"\xe2\x99", b" \xe2\x99", b"."


def test_plan_for_tiny_en_uses_suppress_nst_plus_the_two_tokens_it_misses(embedded_ggml, embedded_model):
    vocab = read_ggml(embedded_ggml["f16"]).vocab
    suppress = embedded_model.generation_config.suppress_tokens
    nst = non_speech_ids(vocab)
    assert len(nst) == 82 and nst <= set(suppress)
    plan = plan_suppression(vocab, suppress)
    assert plan.suppress_nst and plan.regex_ids == (MUSIC_1, MUSIC_2)
    assert plan.regex == r"\xe2\x99|\x20\xe2\x99"
    assert plan.target == {t for t in suppress if t < 50257}
    assert token_regex([b"a|"]) == r"\x61\x7c"  # regex metacharacters are escaped too


def test_whisper_cpp_masks_the_planned_tokens(tiny_random_dir, tmp_path):
    """A random tiny model rigged so that logits rank MUSIC_1 > MUSIC_2 > FULL_STOP > the rest."""
    exported = export_ggml(tiny_random_dir, "f16", tmp_path / "random.bin").path
    direction = np.random.default_rng(0).standard_normal(64).astype(np.float32)

    def embedding(values):
        values[:] = 0.0
        values[MUSIC_1], values[MUSIC_2], values[FULL_STOP] = 10 * direction, 9 * direction, 5 * direction
        return values

    rigged = rewrite_ggml(exported, tmp_path / "rigged.bin", {
        "decoder.ln.weight": lambda v: np.zeros_like(v),  # the final hidden state is the bias...
        "decoder.ln.bias": lambda v: direction.copy(),  # ...so logits = embedding @ direction
        "decoder.token_embedding.weight": embedding,
    })
    clip, options = [np.zeros(16_000, np.float32)], DecodeOptions(max_tokens=3)
    assert transcribe_ggml(rigged, clip, options)[0].tokens == [MUSIC_1] * 3  # suppress_nst alone misses it
    assert transcribe_ggml(rigged, clip, options, suppress_tokens=[MUSIC_1])[0].tokens == [MUSIC_2] * 3
    assert transcribe_ggml(rigged, clip, options, suppress_tokens=[MUSIC_1, MUSIC_2])[0].tokens == [FULL_STOP] * 3
