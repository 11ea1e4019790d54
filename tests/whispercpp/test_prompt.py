"""whisper.cpp's prompt tokenizer over tiny.en's real vocabulary."""

from __future__ import annotations

import pytest

from whisper_tune.transcribe.hf import prompt_context, text_vocab
from whisper_tune.whispercpp.prompt import MAX_PROMPT_TOKENS, split_words, tokenize


@pytest.fixture(scope="module")
def vocab(embedded_processor):
    return text_vocab(embedded_processor.tokenizer)


def test_words_are_split_like_gpt2_with_c_locale_classes():
    assert split_words("(Glossary: kubectl, k8s's)") == [b"(", b"Glossary", b":", b" kubectl", b",", b" k", b"8",
                                                         b"s", b"'s", b")"]


def test_common_words_get_the_same_ids_as_the_hf_tokenizer(vocab, embedded_processor):
    text = " And so my fellow Americans, ask not what your country can do for you."
    assert tokenize(vocab, text) == embedded_processor.tokenizer.encode(text, add_special_tokens=False)


def test_longest_match_can_differ_from_bpe_but_spells_the_same_text(vocab, embedded_processor):
    text = "(Glossary: Kubernetes, kubectl, PostgreSQL, nginx)"
    ids = tokenize(vocab, text)
    assert embedded_processor.tokenizer.decode(ids) == text  # every byte covered, nothing added
    tokenizer = embedded_processor.tokenizer
    pieces = [tokenizer.decode([i]) for i in tokenize(vocab, " Kubernetes")]
    assert pieces == [" Kub", "ern", "ete", "s"]  # longest entry first, left to right
    assert tokenizer.encode(" Kubernetes", add_special_tokens=False) != tokenize(vocab, " Kubernetes")  # BPE merges


def test_prompt_context_starts_with_startofprev_and_keeps_the_last_224_tokens(embedded_processor):
    prev = embedded_processor.tokenizer.convert_tokens_to_ids("<|startofprev|>")
    assert prompt_context(embedded_processor, "") == []
    short = prompt_context(embedded_processor, "(Glossary: nginx)")
    assert short[0] == prev and embedded_processor.tokenizer.decode(short[1:]) == "(Glossary: nginx)"
    long = prompt_context(embedded_processor, " word" * 300)
    assert len(long) == 1 + MAX_PROMPT_TOKENS
