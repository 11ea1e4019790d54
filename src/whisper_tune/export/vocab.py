"""The GGML vocabulary: the model's own tokens, as raw bytes, in id order.

Hugging Face stores GPT-2 byte-level BPE tokens as printable unicode stand-ins for bytes
(a space is "Ġ"); whisper.cpp wants the raw bytes back. Only the regular vocabulary
(vocab.json, or tokenizer.json's model.vocab) is written, as whisper.cpp's own converter
does: whisper.cpp derives the special tokens from n_vocab itself.
"""

from __future__ import annotations

import functools
from pathlib import Path

from whisper_tune.errors import ExportError
from whisper_tune.fileio import read_json_object


@functools.cache
def byte_decoder() -> dict[str, int]:
    """GPT-2's reversible byte <-> unicode table, unicode -> byte direction."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + shifted)
            shifted += 1
    return {chr(char): byte for byte, char in zip(printable, chars, strict=True)}


@functools.cache
def _translation() -> dict[int, str]:
    """str.translate table: stand-in character -> the latin-1 character of its byte."""
    return {ord(char): chr(byte) for char, byte in byte_decoder().items()}


def tokens_bytes(tokens: list[str]) -> list[bytes]:
    """Each token's raw bytes; refuses a character outside GPT-2's byte-level alphabet."""
    foreign = set("".join(tokens)) - byte_decoder().keys()
    if foreign:
        char = min(foreign)
        token = next(token for token in tokens if char in token)
        raise ExportError(
            f"vocabulary token {token!r} holds {char!r}, which is not a GPT-2 byte-level "
            "character; whisper.cpp needs Whisper's byte-level BPE vocabulary"
        )
    # translate + latin-1 run in C: 50k tokens in milliseconds instead of a Python loop per byte.
    table = _translation()
    return [token.translate(table).encode("latin-1") for token in tokens]


def token_bytes(token: str) -> bytes:
    return tokens_bytes([token])[0]


def load_vocab(model_dir: Path) -> list[bytes]:
    """The token bytes by id from ``vocab.json`` (or ``tokenizer.json``) in ``model_dir``."""
    table, source = _vocab_table(model_dir)
    by_id = sorted(table.items(), key=lambda item: item[1])
    ids = [token_id for _, token_id in by_id]
    if ids != list(range(len(ids))):
        gap = next(i for i, token_id in enumerate(ids) if token_id != i)
        raise ExportError(
            f"{source}: token ids are not 0..{len(ids) - 1} without gaps (id {gap} is missing or "
            "duplicated); whisper.cpp takes a token's id from its position"
        )
    return tokens_bytes([token for token, _ in by_id])


def load_special_tokens(model_dir: Path) -> dict[str, int]:
    """Content -> id of the tokenizer's special tokens (``<|...|>``): tokenizer.json's added
    tokens, else added_tokens.json plus the vocabulary's own (English ``<|endoftext|>``).
    Empty when the folder has neither."""
    tokenizer_json = model_dir / "tokenizer.json"
    if tokenizer_json.is_file():
        added = _read_json(tokenizer_json).get("added_tokens")
        if isinstance(added, list):
            return {str(token["content"]): int(token["id"]) for token in added
                    if isinstance(token, dict) and "content" in token and "id" in token}
    found: dict[str, int] = {}
    for name in ("vocab.json", "added_tokens.json"):
        if (model_dir / name).is_file():
            found.update({token: int(token_id) for token, token_id in _read_json(model_dir / name).items()
                          if token.startswith("<|") and token.endswith("|>")})
    return found


def _vocab_table(model_dir: Path) -> tuple[dict[str, int], Path]:
    vocab_json = model_dir / "vocab.json"
    if vocab_json.is_file():
        return _read_json(vocab_json), vocab_json
    tokenizer_json = model_dir / "tokenizer.json"
    if tokenizer_json.is_file():
        vocab = _read_json(tokenizer_json).get("model", {}).get("vocab")
        if isinstance(vocab, dict):
            return vocab, tokenizer_json
    raise ExportError(
        f"{model_dir}: no vocab.json or tokenizer.json with a BPE vocabulary; copy the tokenizer "
        "files of the base model into this folder"
    )


def _read_json(path: Path) -> dict:
    return read_json_object(path, ExportError, "tokenizer file (a JSON object)")
