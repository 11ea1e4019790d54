"""Whisper's multilingual tokenizer as Hugging Face files, from openai-whisper's own assets.

The openai-whisper package (``pip install --no-deps openai-whisper``: only its data is
used) ships the multilingual byte-level BPE as ``whisper/assets/multilingual.tiktoken``.
This module turns it into the tokenizer files of a Hugging Face Whisper folder, laid out as
OpenAI's multilingual models are: the 50257 text tokens, then ``<|endoftext|>``,
``<|startoftranscript|>``, the language tokens (99, or 100 with large-v3's ``<|yue|>``),
``<|translate|>``, ``<|transcribe|>``, ``<|startoflm|>``, ``<|startofprev|>``,
``<|nocaptions|>``, ``<|notimestamps|>`` and the 1501 timestamps. That is how a multilingual
model with random weights gets a real tokenizer offline (for tests and benchmarks).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from whisper_tune.errors import ModelSourceError
from whisper_tune.export.vocab import byte_decoder
from whisper_tune.formats.tiktoken import merge_of, read_ranks
from whisper_tune.models.hf_folder import write_tokenizer_files
from whisper_tune.whisper_constants import MULTILINGUAL_V3_VOCAB, MULTILINGUAL_VOCAB, n_languages

#: The control tokens between the languages and the timestamps, in id order.
CONTROL_TOKENS = ("<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>",
                  "<|notimestamps|>")
ASSET = "multilingual.tiktoken"


def openai_whisper_asset(name: str = ASSET) -> Path:
    """``whisper/assets/<name>`` of the installed openai-whisper package (not imported: its
    dependencies are not needed). Raises :class:`ModelSourceError` when it is not installed."""
    spec = importlib.util.find_spec("whisper")
    for root in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(root) / "assets" / name
        if candidate.is_file():
            return candidate
    raise ModelSourceError(f"openai-whisper's {name} is not installed; install its data with "
                           "`pip install --no-deps openai-whisper`")


def multilingual_tokenizer_json(vocab_size: int, template: dict[str, Any],
                                tiktoken_file: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """A fast-tokenizer (tokenizer.json) dict of Whisper's multilingual vocabulary for a model
    of ``vocab_size`` (51865: 99 languages, 51866: 100). ``template`` is any Whisper
    tokenizer.json: its byte-level pre-tokenizer and decoder are kept, the rest is rebuilt."""
    from transformers.models.whisper.tokenization_whisper import LANGUAGES

    if vocab_size not in (MULTILINGUAL_VOCAB, MULTILINGUAL_V3_VOCAB):
        raise ModelSourceError(f"vocab_size {vocab_size} is not a multilingual Whisper vocabulary "
                               f"({MULTILINGUAL_VOCAB} or {MULTILINGUAL_V3_VOCAB})")
    ranks = read_ranks(tiktoken_file or openai_whisper_asset())
    to_text = {byte: char for char, byte in byte_decoder().items()}

    def text(token: bytes) -> str:
        return "".join(to_text[byte] for byte in token)

    vocab = {text(token): rank for token, rank in ranks.items()}
    merges = [f"{text(pair[0])} {text(pair[1])}" for token in ranks if (pair := merge_of(ranks, token))]
    languages = [f"<|{code}|>" for code in list(LANGUAGES)[: n_languages(vocab_size)]]
    specials = ["<|endoftext|>", "<|startoftranscript|>", *languages, *CONTROL_TOKENS]
    added = [{"id": len(ranks) + index, "content": content, "single_word": False, "lstrip": False,
              "rstrip": False, "normalized": False, "special": True} for index, content in enumerate(specials)]
    ids = {token["content"]: token["id"] for token in added}
    post = template.get("post_processor")
    if isinstance(post, dict) and isinstance(post.get("special_tokens"), dict):
        post = {**post, "special_tokens": {name: {**entry, "ids": [ids[name]]}
                                           for name, entry in post["special_tokens"].items() if name in ids}}
    model = {**template["model"], "vocab": vocab, "merges": merges}
    return {**template, "added_tokens": added, "post_processor": post, "model": model}


def write_multilingual_tokenizer(folder: Path, vocab_size: int, template: dict[str, Any],
                                 tiktoken_file: str | os.PathLike[str] | None = None) -> list[str]:
    """Write tokenizer.json, vocab.json, merges.txt, added_tokens.json ... into ``folder``."""
    return write_tokenizer_files(folder, multilingual_tokenizer_json(vocab_size, template, tiktoken_file), vocab_size)
