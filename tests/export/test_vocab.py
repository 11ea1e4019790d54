"""export/vocab: byte-level BPE tokens back to raw bytes, in id order."""

from __future__ import annotations

import json

import pytest

from whisper_tune.errors import ExportError
from whisper_tune.export.vocab import byte_decoder, load_vocab, token_bytes


def test_byte_decoder_covers_every_byte_once():
    table = byte_decoder()
    assert sorted(table.values()) == list(range(256))
    assert token_bytes("Ġhello") == b" hello"
    assert token_bytes("âĤ¬") == "€".encode()


def test_embedded_vocabulary(embedded_path):
    vocab = load_vocab(embedded_path)
    assert len(vocab) == 50257
    assert vocab[0] == b"!" and vocab[220] == b" " and vocab[50256] == b"<|endoftext|>"


def test_tokenizer_json_is_used_without_vocab_json(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"vocab": {"Ġa": 1, "b": 0}}}))
    assert load_vocab(tmp_path) == [b"b", b" a"]


def test_gaps_and_foreign_characters_are_refused(tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 2}))
    with pytest.raises(ExportError, match="id 1 is missing or duplicated"):
        load_vocab(tmp_path)
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "日本": 1}))
    with pytest.raises(ExportError, match="not a GPT-2 byte-level character"):
        load_vocab(tmp_path)
    (tmp_path / "vocab.json").unlink()
    with pytest.raises(ExportError, match=r"no vocab\.json or tokenizer\.json"):
        load_vocab(tmp_path)
