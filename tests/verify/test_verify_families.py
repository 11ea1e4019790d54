"""verify() on every released Whisper layout: each family's f16 export against its own HF model.

The models are the session's ``family_exports`` (tests/conftest.py: random weights of each
release's true layer counts, heads, vocabulary and mel bins at a small width), shared with
tests/export/test_exporter_families.py, which proves export, inspect and check.

Why this setting holds for every family and still means something:

- f16, not f32: whisper.cpp 1.8.5 aborts on an f32 file on the CPU (its convolution needs
  f16 weights), and q8_0/q5_0 change the weights themselves.
- The language is given (``en``; English-only models have none). Random weights make the
  language logits near-uniform: left to detect it, the two decoders may pick different
  languages, and a different prompt changes every token.
- Encoder context: FUTO Keyboard's for the clip (160 positions), as the deployed apps run
  it. At the full 1500 positions whisper.cpp (no flash attention, as verify runs it) spends
  about 10 s per 32-layer family on one core, 4 minutes for the test; at 160, 1 s. The
  full context is verified on the real tiny.en (test_verify.py).
- 16 greedy tokens of a short cut of jfk.wav. Random weights give near-uniform logits (std
  0.11-0.25 over the vocabulary), so a token whose top-two gap is below the f16 rounding
  could flip. Measured on these seeded models (reference decoder, ``en``, context 160):
  over the first 16 steps of all 16 families the smallest top-two gap is 0.0039
  (small.en, step 5), while rounding the weights and the mel features to f16 moves a logit
  by at most 0.0007: 5.5x less. The models are seeded and whisper.cpp runs on one thread,
  so the outcome is deterministic. Near-uniform logits also make the comparison sharp: a
  wrong mel filter bank (128 bins), tensor, language or task token id or decoder depth
  changes the encoder states or the prompt, and with them the first tokens.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import RELEASE_IDS, RELEASES, family_description
from tests.jfk_cuts import jfk_cuts
from whisper_tune.models.short_encoder import futo_audio_ctx
from whisper_tune.transcribe.types import DecodeOptions
from whisper_tune.verify import verify
from whisper_tune.verify.verify import VerifyReport, decoding_language
from whisper_tune.whisper_constants import is_multilingual, special_ids

#: Greedy steps compared per family (see the module's docstring).
MAX_TOKENS = 16
#: The shortest cut of jfk.wav ("ask not", 1.9 s).
CLIP_ID = "jfk-b"


@pytest.fixture(scope="module")
def clip(jfk_audio):
    return [c for c in jfk_cuts(jfk_audio) if c.id == CLIP_ID]


@pytest.fixture(scope="module")
def audio_ctx(clip) -> int:
    """FUTO Keyboard's encoder context for the clip (160 positions, 3.2 s)."""
    return futo_audio_ctx(len(clip[0].audio))


def _options(vocab: int, audio_ctx: int, language: str | None = "en") -> DecodeOptions:
    return DecodeOptions(language=language if is_multilingual(vocab) else None, max_tokens=MAX_TOKENS,
                         audio_ctx=audio_ctx)


@pytest.mark.parametrize(("release", "layout_name", "vocab"), RELEASES, ids=RELEASE_IDS)
def test_every_family_verifies_against_its_reference(family_exports, clip, audio_ctx, release, layout_name, vocab,
                                                    tmp_path):
    ggml = family_exports[release]["f16"]
    report = verify(ggml, family_exports[release]["model"], clip, report_dir=tmp_path,
                    options=_options(vocab, audio_ctx), n_threads=1, max_wer_delta=0.0)
    # Integrity passed (tensor names and shapes, hparams against the config, vocabulary against
    # the tokenizer) and whisper.cpp decoded: the comparison stage was reached.
    assert report.stage == "compare" and report.problems == [], report.reason
    assert report.family == family_description(release, layout_name, vocab)
    expected_language = "en (given)" if is_multilingual(vocab) else "en (English-only model)"
    assert report.language == expected_language
    [compared] = report.clips
    # whisper.cpp's own tokens for the clip: text tokens only, at most the cap.
    assert 0 < len(compared.ggml_tokens) <= MAX_TOKENS and compared.ggml_text
    assert all(token < special_ids(vocab).eot for token in compared.ggml_tokens)
    # ...and the reference decoded the same ones.
    assert compared.ggml_tokens == compared.model_tokens and compared.identical, (
        compared.ggml_text, compared.model_text)
    assert report.passed and report.cross_wer == 0.0 and report.exact_match_rate == 1.0, report.reason
    written = json.loads((tmp_path / "verify.json").read_text(encoding="utf-8"))
    assert written["family"] == report.family and written["language"] == expected_language
    assert written["clips"][0]["ggml_tokens"] == compared.ggml_tokens and written["audio_ctx"] == audio_ctx
    markdown = (tmp_path / "verify.md").read_text(encoding="utf-8")
    assert f"- family: {report.family}\n" in markdown and f"- language: {expected_language}\n" in markdown
    assert f"- encoder context: {audio_ctx} positions\n" in markdown


def test_a_multilingual_model_verifies_in_its_generation_configs_language(family_exports, clip, audio_ctx, tmp_path):
    """A fine-tune in one language saves it in generation_config.json; verify decodes both
    sides in it when no language is given, neither to verify nor in the manifest (the same
    tokens as with ``language="de"``)."""
    from dataclasses import replace

    clip = [replace(clip[0], language=None)]
    release = "tiny"
    model = shutil.copytree(family_exports[release]["model"], tmp_path / "model")
    config_path = model / "generation_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config.update(language="<|de|>", task="transcribe")
    config_path.write_text(json.dumps(config), encoding="utf-8")
    vocab = int(json.loads((model / "config.json").read_text(encoding="utf-8"))["vocab_size"])

    ggml = family_exports[release]["f16"]
    from_config = verify(ggml, model, clip, options=_options(vocab, audio_ctx, None), n_threads=1, max_wer_delta=0.0)
    given = verify(ggml, model, clip, options=_options(vocab, audio_ctx, "de"), n_threads=1, max_wer_delta=0.0)
    assert from_config.language == "de (the reference's generation_config.json)"
    assert given.language == "de (given)"
    assert from_config.passed and given.passed, (from_config.reason, given.reason)
    assert from_config.clips[0].ggml_tokens == given.clips[0].ggml_tokens == given.clips[0].model_tokens


def test_decoding_language_sources():
    """Given, else the generation config's (any spelling transformers accepts), else detected;
    an English-only model decodes English."""
    from transformers import GenerationConfig

    def language(options: DecodeOptions, **generation) -> tuple[str | None, str]:
        report = VerifyReport(Path("model.bin"), "", False, "", "compare", 0.0)
        chosen, _ = decoding_language(options, GenerationConfig(**generation), report)
        return chosen.language, report.language

    multilingual = {"is_multilingual": True, "lang_to_id": {"<|en|>": 1, "<|de|>": 2}}
    assert language(DecodeOptions(language="fr"), **multilingual, language="<|de|>") == ("fr", "fr (given)")
    for spelling in ("<|de|>", "de", "german"):
        assert language(DecodeOptions(), **multilingual, language=spelling) == (
            "de", "de (the reference's generation_config.json)")
    assert language(DecodeOptions(), **multilingual, language=None)[0] is None
    assert language(DecodeOptions(), is_multilingual=False) == (None, "en (English-only model)")


def test_manifest_languages_choose_each_clips_language():
    """Per clip from the manifest (any spelling) before the generation config, which still
    covers a clip without one; a given language, or an English-only model, ignores them."""
    import numpy as np
    from transformers import GenerationConfig

    from whisper_tune.evaluation.eval import EvalClip, decode_languages

    audio = np.zeros(16000, np.float32)
    clips = [EvalClip("a", audio, "", "German"), EvalClip("b", audio, "", "fr-FR"), EvalClip("c", audio, "", None)]
    multilingual = {"is_multilingual": True, "lang_to_id": {"<|en|>": 1, "<|de|>": 2}}

    def choose(options: DecodeOptions, clips, **generation):
        report = VerifyReport(Path("model.bin"), "", False, "", "compare", 0.0)
        chosen, per_clip = decoding_language(options, GenerationConfig(**generation), report, clips)
        return chosen.language, decode_languages(per_clip), report.language

    assert choose(DecodeOptions(), clips, **multilingual, language="<|en|>") == (
        None, ["de", "fr", "en"],
        "per clip, from the manifest: de 1, en 1, fr 1; 1 clip(s) without one: en (the reference's "
        "generation_config.json)")
    assert choose(DecodeOptions(), clips, **multilingual) == (
        None, ["de", "fr", None], "per clip, from the manifest: de 1, detected 1, fr 1")
    assert choose(DecodeOptions(language="it"), clips, **multilingual)[:2] == ("it", None)
    assert choose(DecodeOptions(), clips, is_multilingual=False)[:2] == (None, None)
    unnamed = [EvalClip("c", audio, "", None)]
    assert choose(DecodeOptions(), unnamed, **multilingual, language="de")[:2] == ("de", None)


def test_a_mixed_language_manifest_decodes_each_clip_in_its_language(family_exports, clip, audio_ctx):
    """Two copies of one clip, labelled German and French in the manifest: with no language
    given, both decoders decode each in its own language, the same tokens as verify with
    that language given (and German and French differ on these near-uniform weights)."""
    from dataclasses import replace

    release = "tiny"
    config = json.loads((family_exports[release]["model"] / "config.json").read_text(encoding="utf-8"))
    vocab = int(config["vocab_size"])
    ggml, model = family_exports[release]["f16"], family_exports[release]["model"]
    mixed = [replace(clip[0], id="as-de", language="de"), replace(clip[0], id="as-fr", language="fr")]
    report = verify(ggml, model, mixed, options=_options(vocab, audio_ctx, None), n_threads=1, max_wer_delta=0.0)
    assert report.language == "per clip, from the manifest: de 1, fr 1"
    assert report.passed and all(c.identical for c in report.clips), report.reason
    for compared, language in zip(report.clips, ("de", "fr"), strict=True):
        alone = verify(ggml, model, clip, options=_options(vocab, audio_ctx, language), n_threads=1, max_wer_delta=0.0)
        assert compared.ggml_tokens == alone.clips[0].ggml_tokens == alone.clips[0].model_tokens
    assert report.clips[0].ggml_tokens != report.clips[1].ggml_tokens

