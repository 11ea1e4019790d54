"""Rebuild a Hugging Face Whisper model folder from a CTranslate2 checkpoint.

CTranslate2 fuses some projections (self-attention q,k,v; cross-attention k,v) and names
everything differently; the rename table below is the single place that knows both
layouts. Every checkpoint variable must be consumed by the table: an unknown name is an
error, not something silently dropped.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisper_tune.errors import FormatError, ModelSourceError
from whisper_tune.fileio import atomic_directory, read_json_object
from whisper_tune.formats.ct2 import Ct2Checkpoint, read_ct2
from whisper_tune.models import hf_folder
from whisper_tune.whisper_constants import SPACE_TOKEN, TOKEN_EMBEDDING, special_ids

log = logging.getLogger(__name__)

# Scalars that describe the architecture; read into the config, not stored as weights.
_METADATA_VARIABLES = {
    "encoder/num_heads",
    "decoder/num_heads",
    "decoder/activation",
    "decoder/alibi",
    "decoder/alignment_heads",
    "decoder/alignment_layer",
    "decoder/pre_norm",
    "decoder/scale_embeddings",
    "decoder/start_from_zero_embedding",
    "encoder/activation",
    "encoder/pre_norm",
}

_Split = Callable[[np.ndarray], list[np.ndarray]]


def _whole(array: np.ndarray) -> list[np.ndarray]:
    return [array]


def _thirds(array: np.ndarray) -> list[np.ndarray]:
    return list(np.split(array, 3, axis=0))


def _halves(array: np.ndarray) -> list[np.ndarray]:
    return list(np.split(array, 2, axis=0))


@dataclass(frozen=True)
class _Rule:
    """One CTranslate2 variable pattern and the HF tensor(s) it becomes.

    ``targets`` are HF names with ``{i}`` for the layer index; ``None`` drops that part
    (the k slice of a fused bias, which HF's k_proj does not have: it is all zeros).
    """

    pattern: str
    targets: tuple[str | None, ...]
    split: _Split = _whole


_LAYER = r"(?P<i>\d+)"
_ATTN = "{side}.layers.{i}"
RENAME_RULES: tuple[_Rule, ...] = (
    _Rule(r"encoder/conv1/(?P<p>weight|bias)", ("model.encoder.conv1.{p}",)),
    _Rule(r"encoder/conv2/(?P<p>weight|bias)", ("model.encoder.conv2.{p}",)),
    _Rule(r"encoder/position_encodings/encodings", ("model.encoder.embed_positions.weight",)),
    _Rule(r"decoder/position_encodings/encodings", ("model.decoder.embed_positions.weight",)),
    _Rule(r"decoder/embeddings/weight", (TOKEN_EMBEDDING,)),
    _Rule(r"(?P<side>encoder|decoder)/layer_norm/gamma", ("model.{side}.layer_norm.weight",)),
    _Rule(r"(?P<side>encoder|decoder)/layer_norm/beta", ("model.{side}.layer_norm.bias",)),
    # Self-attention: linear_0 fuses q, k, v in that order; linear_1 is the output.
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/self_attention/linear_0/weight",
        tuple(f"model.{_ATTN}.self_attn.{p}_proj.weight" for p in "qkv"),
        _thirds,
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/self_attention/linear_0/bias",
        (f"model.{_ATTN}.self_attn.q_proj.bias", None, f"model.{_ATTN}.self_attn.v_proj.bias"),
        _thirds,
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/self_attention/linear_1/(?P<p>weight|bias)",
        (f"model.{_ATTN}.self_attn.out_proj.{{p}}",),
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/self_attention/layer_norm/gamma",
        (f"model.{_ATTN}.self_attn_layer_norm.weight",),
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/self_attention/layer_norm/beta",
        (f"model.{_ATTN}.self_attn_layer_norm.bias",),
    ),
    # Cross-attention (decoder only): linear_0 is q, linear_1 fuses k and v, linear_2 the output.
    _Rule(
        rf"(?P<side>decoder)/layer_{_LAYER}/attention/linear_0/(?P<p>weight|bias)",
        (f"model.{_ATTN}.encoder_attn.q_proj.{{p}}",),
    ),
    _Rule(
        rf"(?P<side>decoder)/layer_{_LAYER}/attention/linear_1/weight",
        (f"model.{_ATTN}.encoder_attn.k_proj.weight", f"model.{_ATTN}.encoder_attn.v_proj.weight"),
        _halves,
    ),
    _Rule(
        rf"(?P<side>decoder)/layer_{_LAYER}/attention/linear_1/bias",
        (None, f"model.{_ATTN}.encoder_attn.v_proj.bias"),
        _halves,
    ),
    _Rule(
        rf"(?P<side>decoder)/layer_{_LAYER}/attention/linear_2/(?P<p>weight|bias)",
        (f"model.{_ATTN}.encoder_attn.out_proj.{{p}}",),
    ),
    _Rule(
        rf"(?P<side>decoder)/layer_{_LAYER}/attention/layer_norm/gamma",
        (f"model.{_ATTN}.encoder_attn_layer_norm.weight",),
    ),
    _Rule(
        rf"(?P<side>decoder)/layer_{_LAYER}/attention/layer_norm/beta",
        (f"model.{_ATTN}.encoder_attn_layer_norm.bias",),
    ),
    # Feed-forward: linear_0 is fc1, linear_1 is fc2.
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/ffn/linear_0/(?P<p>weight|bias)",
        (f"model.{_ATTN}.fc1.{{p}}",),
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/ffn/linear_1/(?P<p>weight|bias)",
        (f"model.{_ATTN}.fc2.{{p}}",),
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/ffn/layer_norm/gamma",
        (f"model.{_ATTN}.final_layer_norm.weight",),
    ),
    _Rule(
        rf"(?P<side>encoder|decoder)/layer_{_LAYER}/ffn/layer_norm/beta",
        (f"model.{_ATTN}.final_layer_norm.bias",),
    ),
)
_COMPILED = tuple((re.compile(rule.pattern + "$"), rule) for rule in RENAME_RULES)


def ct2_to_hf_tensors(checkpoint: Ct2Checkpoint) -> dict[str, np.ndarray]:
    """Map every weight of a Whisper CTranslate2 checkpoint to its HF name."""
    if checkpoint.spec_name != "WhisperSpec":
        raise FormatError(
            f"this CTranslate2 model is a {checkpoint.spec_name!r}, not a Whisper model (WhisperSpec)"
        )
    tensors: dict[str, np.ndarray] = {}
    for name, value in checkpoint.variables.items():
        if name in _METADATA_VARIABLES:
            continue
        for regex, rule in _COMPILED:
            match = regex.match(name)
            if match:
                _apply_rule(rule, match.groupdict(), value, tensors)
                break
        else:
            raise FormatError(
                f"unknown CTranslate2 Whisper variable {name!r}: the rename table in "
                "whisper_tune/models/ct2_import.py does not know it"
            )
    _check_dropped_bias_parts(checkpoint)
    return tensors


def _apply_rule(rule: _Rule, groups: dict[str, str], value: np.ndarray, out: dict[str, np.ndarray]) -> None:
    parts = rule.split(value)
    for target, part in zip(rule.targets, parts, strict=True):
        if target is not None:
            out[target.format(**groups)] = np.ascontiguousarray(part)


def _check_dropped_bias_parts(checkpoint: Ct2Checkpoint) -> None:
    """The k part of a fused bias is dropped (HF has no k bias); make sure it was zero."""
    for name, value in checkpoint.variables.items():
        if name.endswith("self_attention/linear_0/bias"):
            dropped = _thirds(value)[1]
        elif re.search(r"/attention/linear_1/bias$", name):
            dropped = _halves(value)[0]
        else:
            continue
        if np.any(dropped.astype(np.float32) != 0):
            raise FormatError(
                f"{name}: the key-projection part of this fused bias is not zero, but Whisper's "
                "key projections have no bias; this checkpoint cannot be represented in HF Whisper"
            )


def _scalar(checkpoint: Ct2Checkpoint, name: str, default: int) -> int:
    value = checkpoint.variables.get(name)
    return default if value is None else int(np.asarray(value).reshape(-1)[0])


def whisper_config_dict(checkpoint: Ct2Checkpoint, tensors: dict[str, np.ndarray], ct2_config: dict) -> dict:
    """HF WhisperConfig fields derived from the weights' shapes and the CT2 config."""
    n_vocab, d_model = tensors[TOKEN_EMBEDDING].shape
    conv1 = tensors["model.encoder.conv1.weight"]
    fc1_encoder = tensors["model.encoder.layers.0.fc1.weight"]
    fc1_decoder = tensors["model.decoder.layers.0.fc1.weight"]

    def count_layers(side: str) -> int:
        return len({k.split(".")[3] for k in tensors if k.startswith(f"model.{side}.layers.")})

    return {
        "vocab_size": int(n_vocab),
        "num_mel_bins": int(conv1.shape[1]),
        "d_model": int(d_model),
        "encoder_layers": count_layers("encoder"),
        "decoder_layers": count_layers("decoder"),
        "encoder_attention_heads": _scalar(checkpoint, "encoder/num_heads", d_model // 64),
        "decoder_attention_heads": _scalar(checkpoint, "decoder/num_heads", d_model // 64),
        "encoder_ffn_dim": int(fc1_encoder.shape[0]),
        "decoder_ffn_dim": int(fc1_decoder.shape[0]),
        "max_source_positions": int(tensors["model.encoder.embed_positions.weight"].shape[0]),
        "max_target_positions": int(tensors["model.decoder.embed_positions.weight"].shape[0]),
        "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "begin_suppress_tokens": list(
            ct2_config.get("suppress_ids_begin", [SPACE_TOKEN, special_ids(int(n_vocab)).eot])
        ),
    }


def import_ct2(ct2_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Rebuild ``ct2_dir`` (model.bin, config.json, tokenizer.json) as an HF model folder.

    The weights keep the checkpoint's dtype (float16 for OpenAI's releases); the folder is
    built under a temporary name and moved into place when complete.
    """
    source = Path(ct2_dir)
    if not (source / "model.bin").is_file():
        raise ModelSourceError(f"{source}: not a CTranslate2 model folder (no model.bin)")
    tokenizer_file = source / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise ModelSourceError(
            f"{source}: the CTranslate2 folder has no tokenizer.json; copy the tokenizer.json of "
            "the original Whisper model into it"
        )
    ct2_config = _read_json(source / "config.json") if (source / "config.json").is_file() else {}
    checkpoint = read_ct2(source / "model.bin")
    tensors = ct2_to_hf_tensors(checkpoint)
    config = whisper_config_dict(checkpoint, tensors, ct2_config)
    tokenizer_json = _read_json(tokenizer_file)
    target = Path(out_dir)
    with atomic_directory(target) as staging:
        hf_folder.write_model_folder(
            staging,
            config=config,
            tensors=tensors,
            tokenizer_json=tokenizer_json,
            alignment_heads=ct2_config.get("alignment_heads"),
            source_note=f"rebuilt by whisper-tune from the CTranslate2 checkpoint {source}",
        )
    log.info("rebuilt %s as a Hugging Face model in %s", source, target)
    return target


def _read_json(path: Path) -> dict:
    return read_json_object(path, ModelSourceError)
