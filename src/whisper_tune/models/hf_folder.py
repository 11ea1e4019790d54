"""Writing a complete Hugging Face Whisper model folder.

"Complete" means everything the rest of the ecosystem expects beside the weights: config,
generation config (special ids, suppress lists, alignment heads, languages and tasks for
multilingual models), tokenizer files (tokenizer.json and the vocab.json, merges.txt and
added_tokens.json that whisper.cpp's converter and older loaders read), the English
spelling normalizer, and the feature extractor settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune.errors import ModelSourceError
from whisper_tune.fileio import atomic_write_json, atomic_write_text
from whisper_tune.whisper_constants import (
    N_TIMESTAMP_TOKENS,
    SPACE_TOKEN,
    TIMESTAMP_STEP,
    is_multilingual,
    special_ids,
)

_LANGUAGE_TOKEN = re.compile(r"^<\|([a-z]{2,3}|haw|yue)\|>$")
_TASK_TOKENS = {"transcribe": "<|transcribe|>", "translate": "<|translate|>"}
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json",
                   "normalizer.json", "special_tokens_map.json", "tokenizer_config.json")


def special_token_ids(tokenizer_json: Mapping[str, Any]) -> dict[str, int]:
    """Content -> id of every added token in a fast-tokenizer file."""
    return {token["content"]: int(token["id"]) for token in tokenizer_json.get("added_tokens", [])}


def with_timestamp_tokens(tokenizer_json: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    """Add <|0.00|>..<|30.00|> when the file lacks them and the vocabulary has room for them.

    CTranslate2's tokenizer.json stops at <|notimestamps|>; the model's vocabulary still has
    the 1501 timestamp rows above it, and HF's own Whisper tokenizers name them.
    """
    added = list(tokenizer_json.get("added_tokens", []))
    last_id = max([int(t["id"]) for t in added] + [len(tokenizer_json["model"]["vocab"]) - 1])
    if vocab_size - 1 - last_id != N_TIMESTAMP_TOKENS:
        return tokenizer_json
    for index in range(N_TIMESTAMP_TOKENS):
        added.append({
            "id": last_id + 1 + index,
            "content": f"<|{index * TIMESTAMP_STEP:.2f}|>",
            "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": False,
        })
    return {**tokenizer_json, "added_tokens": added}


def generation_config_dict(
    config: Mapping[str, Any], tokenizer_json: Mapping[str, Any], alignment_heads: Any = None
) -> dict[str, Any]:
    """The generation_config.json HF's Whisper generate() needs, from the tokenizer's ids."""
    ids = special_token_ids(tokenizer_json)
    required = ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>")
    missing = [name for name in required if name not in ids]
    if missing:
        raise ModelSourceError(f"the tokenizer lacks Whisper's special tokens {missing}")
    eot, sot = ids["<|endoftext|>"], ids["<|startoftranscript|>"]
    generation: dict[str, Any] = {
        "alignment_heads": [list(map(int, pair)) for pair in alignment_heads] if alignment_heads else [],
        "begin_suppress_tokens": list(config.get("begin_suppress_tokens") or [SPACE_TOKEN, eot]),
        "bos_token_id": sot,
        "decoder_start_token_id": sot,
        "eos_token_id": eot,
        "is_multilingual": is_multilingual(int(config["vocab_size"])),
        "max_initial_timestamp_index": 50,
        "max_length": int(config["max_target_positions"]),
        "no_timestamps_token_id": ids["<|notimestamps|>"],
        "pad_token_id": eot,
        "prev_sot_token_id": ids.get("<|startofprev|>", sot - 1),
        "return_timestamps": False,
        "suppress_tokens": list(config.get("suppress_tokens") or []),
    }
    if generation["is_multilingual"]:
        generation["lang_to_id"] = {
            token: token_id for token, token_id in ids.items()
            if _LANGUAGE_TOKEN.match(token) and sot < token_id < ids.get("<|translate|>", 1 << 30)
        }
        generation["task_to_id"] = {task: ids[token] for task, token in _TASK_TOKENS.items() if token in ids}
    return generation


def english_spelling_mapping() -> dict[str, str]:
    """Whisper's British -> American spelling table (normalizer.json in HF folders)."""
    data = resources.files("whisper_normalizer").joinpath("normalizers/english.json").read_text("utf-8")
    return json.loads(data)


def write_tokenizer_files(folder: Path, tokenizer_json: dict[str, Any], vocab_size: int) -> list[str]:
    """Write every tokenizer file derivable from a fast-tokenizer file; returns names written."""
    model = tokenizer_json.get("model", {})
    if model.get("type") != "BPE" or "vocab" not in model or "merges" not in model:
        raise ModelSourceError("tokenizer.json is not a byte-level BPE tokenizer (Whisper's kind)")
    tokenizer_json = with_timestamp_tokens(tokenizer_json, vocab_size)
    vocab: dict[str, int] = model["vocab"]
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    added = {
        token["content"]: int(token["id"])
        for token in tokenizer_json.get("added_tokens", [])
        if int(token["id"]) >= len(vocab)
    }
    eot = "<|endoftext|>"
    atomic_write_json(folder / "tokenizer.json", tokenizer_json)
    atomic_write_json(folder / "vocab.json", dict(sorted(vocab.items(), key=lambda item: item[1])))
    atomic_write_text(folder / "merges.txt", "#version: 0.2\n" + "\n".join(merges) + "\n")
    atomic_write_json(folder / "added_tokens.json", dict(sorted(added.items(), key=lambda item: item[1])))
    atomic_write_json(folder / "normalizer.json", english_spelling_mapping())
    atomic_write_json(folder / "special_tokens_map.json",
                      {"bos_token": eot, "eos_token": eot, "unk_token": eot, "pad_token": eot})
    atomic_write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "WhisperTokenizer",
        "model_max_length": 1024,
        "errors": "replace",
        "add_prefix_space": False,
        "bos_token": eot, "eos_token": eot, "unk_token": eot, "pad_token": eot,
    })
    return list(TOKENIZER_FILES)


def write_model_folder(
    folder: Path,
    *,
    config: Mapping[str, Any],
    tensors: Mapping[str, np.ndarray],
    tokenizer_json: dict[str, Any],
    alignment_heads: Any = None,
    source_note: str = "",
) -> None:
    """Write config, generation config, safetensors weights, tokenizer and feature extractor."""
    from safetensors.numpy import save_file
    from transformers import WhisperConfig, WhisperFeatureExtractor

    ids = special_token_ids(tokenizer_json)
    derived = special_ids(int(config["vocab_size"]))
    eot, sot = ids.get("<|endoftext|>", derived.eot), ids.get("<|startoftranscript|>", derived.sot)
    dtype = next(iter(tensors.values())).dtype
    hf_config = WhisperConfig(
        **config,
        bos_token_id=sot,
        eos_token_id=eot,
        pad_token_id=eot,
        decoder_start_token_id=sot,
        tie_word_embeddings=True,
        architectures=["WhisperForConditionalGeneration"],
    )
    hf_config.dtype = "float16" if dtype == np.float16 else "float32"
    hf_config.save_pretrained(folder)
    atomic_write_json(folder / "generation_config.json",
                      generation_config_dict(config, tokenizer_json, alignment_heads))
    save_file({name: np.ascontiguousarray(t) for name, t in sorted(tensors.items())},
              str(folder / "model.safetensors"),
              metadata={"format": "pt", "source": source_note or "whisper-tune"})
    WhisperFeatureExtractor(feature_size=int(config["num_mel_bins"])).save_pretrained(folder)
    write_tokenizer_files(folder, tokenizer_json, int(config["vocab_size"]))


def set_generation_prompt(model: Any, language: str | None, task: str | None) -> None:
    """Make ``model`` decode (and save) with ``language`` and ``task``, the modern way.

    Sets ``generation_config.language`` (``<|de|>``) and ``task`` for a multilingual model, and
    drops ``forced_decoder_ids`` from the generation and model configs: transformers ignores
    (and warns about) that deprecated field, and refuses to save a model config that still
    holds it. ``language=None`` leaves the language to detection; an English-only model gets
    neither (transformers refuses a language or task for it).
    """
    gen = model.generation_config
    if getattr(gen, "is_multilingual", False):
        gen.language = f"<|{language}|>" if language else None
        gen.task = task
    gen.forced_decoder_ids = None
    if getattr(model.config, "forced_decoder_ids", None) is not None:
        model.config.forced_decoder_ids = None

