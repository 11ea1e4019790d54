"""ggml_quants: bit-for-bit equal to ggml's reference quantizers, zero-sign edge cases included."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from whisper_tune.errors import FormatError
from whisper_tune.formats.ggml_quants import BLOCK_BYTES, QUANT_TYPES, dequantize, quantize

REFERENCE = json.loads((Path(__file__).parent / "data" / "ggml_reference.json").read_text())


def adversarial_blocks() -> np.ndarray:
    """Deterministic (no RNG) blocks of 32 that stress every branch of ggml's quantizers.

    The digests of ggml's own output for exactly these values are in data/ggml_reference.json;
    changing this function means deriving them again (see its "derivation").
    """
    pool = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 1e-8, -1e-8,
                     7.0, -7.0, 1e5, -1e5, 6e-5, -6e-5, 1e6, 1e-40], dtype=np.float32)
    i = np.arange(4096, dtype=np.uint64)[:, None]
    j = np.arange(32, dtype=np.uint64)[None, :]
    mixed = pool[
        ((i * np.uint64(2654435761) + j * np.uint64(40503) + i * j * np.uint64(97)) >> np.uint64(7))
        % np.uint64(pool.size)
    ]
    bits = ((np.arange(512, dtype=np.uint64)[:, None] * np.uint64(0x9E3779B1)) >> j) & np.uint64(1)
    signed_zeros = np.where(bits == 1, np.float32(-0.0), np.float32(0.0)).astype(np.float32)
    nonneg = np.where(bits[:, ::-1] == 1, np.float32(0.25), signed_zeros)  # min is a signed zero
    nonpos = np.where(bits[:, ::-1] == 1, np.float32(-0.25), signed_zeros)  # max is a signed zero
    ties = np.zeros((64, 32), dtype=np.float32)
    ties[np.arange(64), np.arange(64) % 32] = 1.5
    ties[np.arange(64), (np.arange(64) * 7 + 3) % 32] = -1.5
    k = np.arange(8192 * 32, dtype=np.int64).reshape(-1, 32)
    smooth = (((k * 7919) % 2001 - 1000) / np.float32(37)).astype(np.float32)
    return np.concatenate([mixed, signed_zeros, nonneg, nonpos, ties, smooth]).astype(np.float32)


@pytest.mark.parametrize("qtype", QUANT_TYPES)
def test_adversarial_blocks_match_ggml_bytes(qtype):
    data = quantize(adversarial_blocks(), qtype)
    assert hashlib.sha256(data.tobytes()).hexdigest() == REFERENCE["adversarial_sha256"][qtype]


@pytest.mark.parametrize("qtype", QUANT_TYPES)
def test_matches_gguf_reference_except_zero_signs(qtype):
    """gguf.quants is an independent port; it differs from ggml only in the sign of a zero scale/min."""
    quants = pytest.importorskip("gguf.quants")
    from gguf import GGMLQuantizationType

    values = adversarial_blocks()
    ours = quantize(values, qtype).reshape(-1, BLOCK_BYTES[qtype])
    with np.errstate(over="ignore"):
        theirs = quants.quantize(values, GGMLQuantizationType[qtype.upper()]).reshape(-1, BLOCK_BYTES[qtype])
    differing = (ours != theirs).any(axis=1)
    zero_extreme = (values.max(axis=1) == 0) | (values.min(axis=1) == 0)
    assert not (differing & ~zero_extreme).any()
    # Wherever the bytes differ, the decoded values must not (NaN where a scale overflowed).
    with np.errstate(invalid="ignore"):
        assert np.array_equal(dequantize(ours[differing].reshape(-1), qtype, (int(differing.sum()), 32)),
                              quants.dequantize(theirs[differing], GGMLQuantizationType[qtype.upper()]), equal_nan=True)
    if qtype != "q8_0":  # the all-zero blocks alone make ggml's d = -0.0 where gguf writes +0.0
        assert differing.any()


@pytest.mark.parametrize("qtype", QUANT_TYPES)
def test_dequantize_is_close_and_shaped(qtype):
    values = (((np.arange(64 * 96) * 7919) % 2001 - 1000) / 400).astype(np.float32).reshape(64, 96)
    decoded = dequantize(quantize(values, qtype), qtype, values.shape)
    # Half a step, except that q4_0/q5_0 clamp the extreme opposite the block's max to one step.
    tolerance = {"q4_0": 2.5 / 8, "q5_0": 2.5 / 16, "q4_1": 0.51 * 5 / 15, "q5_1": 0.51 * 5 / 31,
                 "q8_0": 0.51 * 2.5 / 127}[qtype]
    assert decoded.shape == values.shape and decoded.dtype == np.float32
    assert np.abs(decoded - values).max() <= tolerance + 1e-3


def test_negative_zero_block_scale_follows_ggml():
    """ggml keeps +0 as the max of an all-zero block, so d = +0 / -8 = -0.0 (bytes 00 80)."""
    block = np.full((1, 32), -0.0, dtype=np.float32)
    assert quantize(block, "q4_0")[:2].tobytes() == b"\x00\x80"
    assert quantize(block, "q8_0")[:2].tobytes() == b"\x00\x00"  # amax uses fabsf: +0


def test_row_length_must_be_a_multiple_of_32():
    with pytest.raises(FormatError, match="rows of 48 values are not a multiple of 32"):
        quantize(np.zeros((4, 48), dtype=np.float32), "q8_0")


def test_dequantize_rejects_a_wrong_size():
    with pytest.raises(FormatError, match="does not hold a tensor of shape"):
        dequantize(np.zeros(33, dtype=np.uint8), "q8_0", (1, 64))
