"""Decoder inputs and labels: one start token, shifted labels ending in eot, -100 padding."""

from __future__ import annotations

import pytest

from whisper_tune.errors import ConfigError, DataError
from whisper_tune.training.labels import (
    build_example,
    clip_prompts,
    encode_transcripts,
    language_code,
    prompt_tokens,
    text_tokens,
    timestamp_token,
    training_language,
)
from whisper_tune.transcribe.hf import SpecialTokens

SOT, EOT, NO_TS = 50257, 50256, 50362


@pytest.fixture(scope="module")
def english(embedded_path):
    from types import SimpleNamespace

    from transformers import GenerationConfig, WhisperTokenizer

    tokenizer = WhisperTokenizer.from_pretrained(embedded_path)
    model_like = SimpleNamespace(generation_config=GenerationConfig.from_pretrained(embedded_path))
    return tokenizer, SpecialTokens.from_model(model_like)


def _multilingual() -> SpecialTokens:
    """Ids as in multilingual Whisper (sot 50258, <|en|> 50259, transcribe 50360, notimestamps 50364)."""
    return SpecialTokens(eot=50257, sot=50258, no_timestamps=50364, suppress=(), begin_suppress=(),
                         lang_to_id={"<|en|>": 50259, "<|de|>": 50261},
                         task_to_id={"transcribe": 50360, "translate": 50359}, multilingual=True)


def test_english_only_example_has_one_start_token_and_shifted_labels(english):
    tokenizer, special = english
    prompt = prompt_tokens(special, None, "transcribe", timestamps=False)
    assert prompt == [SOT, NO_TS]
    text = text_tokens(tokenizer, "Deploy to Kubernetes.")
    example = build_example(prompt, text, special)
    assert example.decoder_input_ids == [SOT, NO_TS, *text]
    assert example.labels == [NO_TS, *text, EOT]
    assert example.decoder_input_ids.count(SOT) == 1
    assert tokenizer.decode(text) == " Deploy to Kubernetes."


def test_sequence_matches_the_tokenizer_with_its_prefix_tokens(english):
    """Independent check: HF's tokenizer (prefix tokens on) builds sot .. eot the same way."""
    tokenizer, special = english
    tokenizer.set_prefix_tokens(predict_timestamps=False)
    reference = tokenizer(" Check it with kubectl.").input_ids
    example = build_example(prompt_tokens(special, None, "transcribe", False),
                            text_tokens(tokenizer, "Check it with kubectl."), special)
    assert [*example.decoder_input_ids, example.labels[-1]] == reference


def test_multilingual_prompt_has_language_and_task():
    special = _multilingual()
    assert prompt_tokens(special, "de", "transcribe", False) == [50258, 50261, 50360, 50364]
    assert prompt_tokens(special, "en", "translate", True) == [50258, 50259, 50359]
    with pytest.raises(ConfigError, match="language is not set, but the model is multilingual"):
        prompt_tokens(special, None, "transcribe", False)
    with pytest.raises(ConfigError, match="language='xx' is not known"):
        prompt_tokens(special, "xx", "transcribe", False)


def test_each_clip_trains_in_its_own_language_else_the_default(english):
    special = _multilingual()
    prompts = clip_prompts(special, ["de-DE", None, "English", "<|de|>"], ["a", "b", "c", "d"], "en", "transcribe",
                           False)
    assert prompts == [[50258, 50261, 50360, 50364], [50258, 50259, 50360, 50364], [50258, 50259, 50360, 50364],
                       [50258, 50261, 50360, 50364]]
    with pytest.raises(DataError, match=r"clip 'b': the manifest's language 'xx' cannot be used"):
        clip_prompts(special, ["de", "xx"], ["a", "b"], None, "transcribe", False)
    with pytest.raises(ConfigError, match="language is not set"):
        clip_prompts(special, ["de", ""], ["a", "b"], None, "transcribe", False)
    # An English-only model takes English clips and refuses others by name.
    assert clip_prompts(english[1], ["en-US", None], ["a", "b"], None, "transcribe", False) == [[SOT, NO_TS]] * 2
    with pytest.raises(DataError, match=r"clip 'b'.*English-only"):
        clip_prompts(english[1], ["en", "fr"], ["a", "b"], None, "transcribe", False)


def test_language_codes_and_the_training_language(english):
    assert [language_code(v) for v in ("de", "DE-de", "pt_BR", "<|yue|>", "German", "haw")] == \
        ["de", "de", "pt", "yue", "de", "haw"]
    special = _multilingual()
    assert training_language(special, ["de", "de-AT", None], "de") == "de"
    assert training_language(special, ["de", "en"], None) is None
    assert training_language(special, [None, None], None) is None
    assert training_language(english[1], ["en"], None) is None


def test_english_only_model_refuses_another_language(english):
    with pytest.raises(ConfigError, match="English-only"):
        prompt_tokens(english[1], "de", "transcribe", False)


def test_timestamps_drop_notimestamps_and_wrap_the_text_in_one_segment(english):
    tokenizer, special = english
    prompt = prompt_tokens(special, None, "transcribe", timestamps=True)
    assert prompt == [SOT]
    text = text_tokens(tokenizer, "hello")
    example = build_example(prompt, text, special, timestamps=True, duration=2.345)
    begin = NO_TS + 1  # <|0.00|>
    assert example.decoder_input_ids == [SOT, begin, *text, begin + 117]  # 2.34 s on the 20 ms grid
    assert example.labels == [begin, *text, begin + 117, EOT]
    assert timestamp_token(special, 99.0) == begin + 1500  # clamped at <|30.00|>


def test_empty_and_too_long_transcripts_are_refused_naming_the_clip(english):
    tokenizer, special = english
    prompt = prompt_tokens(special, None, "transcribe", False)
    with pytest.raises(DataError, match=r"clip 'b'.*empty"):
        encode_transcripts(tokenizer, special, ["fine", " "], ["a", "b"], [1.0, 1.0], [prompt] * 2, False, 50)
    with pytest.raises(DataError, match=r"clip 'a'.*needs \d+ tokens, more than max_label_tokens=8"):
        encode_transcripts(tokenizer, special, ["one two three four five six seven eight"], ["a"], [1.0],
                           [prompt], False, 8)
