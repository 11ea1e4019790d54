"""Whisper's multilingual tokenizer rebuilt from openai-whisper's multilingual.tiktoken."""

from __future__ import annotations

import pytest

from tests.conftest import multilingual_tokenizer_json
from whisper_tune.models.hf_folder import write_tokenizer_files
from whisper_tune.whisper_constants import MULTILINGUAL_V3_VOCAB, MULTILINGUAL_VOCAB, N_TEXT_TOKENS, special_ids


@pytest.mark.parametrize("vocab_size", [MULTILINGUAL_VOCAB, MULTILINGUAL_V3_VOCAB])
def test_special_ids_are_whisper_cpps_and_text_round_trips(tmp_path, vocab_size):
    from transformers import AutoTokenizer, WhisperTokenizer

    write_tokenizer_files(tmp_path, multilingual_tokenizer_json(vocab_size), vocab_size)
    ids = special_ids(vocab_size)
    for load in (WhisperTokenizer.from_pretrained, AutoTokenizer.from_pretrained):
        tokenizer = load(tmp_path)
        assert len(tokenizer) == vocab_size
        got = tokenizer.convert_tokens_to_ids(["<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|de|>",
                                               "<|transcribe|>", "<|notimestamps|>", "<|0.00|>"])
        assert got == [ids.eot, ids.sot, ids.first_language, ids.first_language + 2, ids.transcribe,
                       ids.no_timestamps, ids.timestamp_begin]
        tokenizer.set_prefix_tokens(language="de", task="transcribe", predict_timestamps=False)
        text = "Grüße aus München, 東京 and Zürich!"
        encoded = tokenizer(text).input_ids
        assert encoded[:4] == [ids.sot, ids.first_language + 2, ids.transcribe, ids.no_timestamps]
        assert all(token < N_TEXT_TOKENS for token in encoded[4:-1])
        assert tokenizer.decode(encoded, skip_special_tokens=True) == text
    # The multilingual BPE is not GPT-2's: " München" is fewer tokens than bytes.
    assert len(WhisperTokenizer.from_pretrained(tmp_path)(" München", add_special_tokens=False).input_ids) <= 3
