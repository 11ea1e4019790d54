"""ggml's block quantizers q4_0, q4_1, q5_0, q5_1 and q8_0, vectorized in numpy.

Each function reproduces ggml's reference quantizer (``quantize_row_*_ref`` in ggml-quants.c,
what ``whisper-quantize`` runs) bit for bit, float32 arithmetic included, so a file we write
is byte-identical to one whisper.cpp's own tool would write from the same float32 values.
The two places where a straightforward numpy port differs from ggml are handled explicitly:

* the block maximum/minimum is the *first* element reaching it, so its zero sign follows the
  data (``np.max`` of ``[-0.0, 0.0]`` may return either);
* ``roundf`` rounds half away from zero, ``np.round`` half to even.

Blocks are 32 values along a row (ggml's ne[0], numpy's last axis). Layouts, little-endian,
``d`` and ``m`` as float16:

========  =====  =========================================
type      bytes  layout
========  =====  =========================================
q4_0      18     d, 16 bytes of nibbles
q4_1      20     d, m, 16 bytes of nibbles
q5_0      22     d, uint32 high bits, 16 bytes of nibbles
q5_1      24     d, m, uint32 high bits, 16 bytes of nibbles
q8_0      34     d, 32 int8
========  =====  =========================================
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from whisper_tune.errors import FormatError
from whisper_tune.formats import half

#: Values per block, for every type here.
QK = 32

#: Bytes per block of each quantized type.
BLOCK_BYTES: dict[str, int] = {"q4_0": 18, "q4_1": 20, "q5_0": 22, "q5_1": 24, "q8_0": 34}

QUANT_TYPES: tuple[str, ...] = tuple(BLOCK_BYTES)

_F32 = np.float32
#: Blocks quantized per step (2 MiB of float32 input).
_CHUNK_BLOCKS = 16384


def quantized_nbytes(qtype: str, n_values: int) -> int:
    """Size in bytes of ``n_values`` values (a multiple of 32) quantized to ``qtype``."""
    return (n_values // QK) * BLOCK_BYTES[qtype]


def quantize(values: np.ndarray, qtype: str) -> np.ndarray:
    """Quantize ``values`` (any float array, rows along the last axis) to ``qtype`` bytes.

    Returns a flat uint8 array of ``values.size // 32 * BLOCK_BYTES[qtype]`` bytes, in row
    order. Raises :class:`FormatError` if the row length is not a multiple of 32.
    """
    if qtype not in _QUANTIZERS:
        raise FormatError(f"unknown quantization type {qtype!r}; expected one of {', '.join(QUANT_TYPES)}")
    array = np.asarray(values)
    row = array.shape[-1] if array.ndim else 1
    if row % QK:
        raise FormatError(
            f"cannot quantize to {qtype}: rows of {row} values are not a multiple of {QK} "
            f"(tensor shape {array.shape}); use f16 or f32 for this model"
        )
    # Quantize a bounded number of blocks at a time: the float32 temporaries of a whole
    # token embedding would otherwise cost several times the tensor's size in memory.
    blocks = np.ascontiguousarray(array).reshape(-1, QK)
    out = np.empty((blocks.shape[0], BLOCK_BYTES[qtype]), dtype=np.uint8)
    for start in range(0, blocks.shape[0], _CHUNK_BLOCKS):
        chunk = blocks[start : start + _CHUNK_BLOCKS].astype(_F32)
        out[start : start + _CHUNK_BLOCKS] = _QUANTIZERS[qtype](chunk)
    return out.reshape(-1)


def dequantize(data: np.ndarray | bytes, qtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """Decode ``qtype`` bytes back to float32 values of numpy ``shape`` (exactly as ggml does)."""
    if qtype not in _DEQUANTIZERS:
        raise FormatError(f"unknown quantization type {qtype!r}; expected one of {', '.join(QUANT_TYPES)}")
    raw = np.frombuffer(data, dtype=np.uint8) if isinstance(data, (bytes, bytearray, memoryview)) else data
    n_values = int(np.prod(shape, dtype=np.int64))
    expected = quantized_nbytes(qtype, n_values)
    if n_values % QK or raw.size != expected:
        raise FormatError(
            f"{qtype} data of {raw.size} bytes does not hold a tensor of shape {shape} "
            f"(expected {expected} bytes and a multiple of {QK} values)"
        )
    blocks = raw.reshape(-1, BLOCK_BYTES[qtype])
    return _DEQUANTIZERS[qtype](blocks).reshape(shape)


# --- helpers ---------------------------------------------------------------------------


def _first_extreme(blocks: np.ndarray, extreme: np.ndarray) -> np.ndarray:
    """``extreme`` with the zero sign ggml would pick: that of the first element equal to it.

    Only a zero extreme can differ from ggml's (+0 == -0); other values are exact already.
    """
    zero = extreme == 0
    if zero.any():
        rows = np.flatnonzero(zero)
        first = np.argmax(blocks[rows] == 0, axis=1)
        extreme = extreme.copy()
        extreme[rows] = blocks[rows, first]
    return extreme


def _signed_absmax(blocks: np.ndarray) -> np.ndarray:
    """The value of largest magnitude, first occurrence; +0.0 for an all-zero block.

    ggml starts from ``amax = max = 0.0f`` and replaces only on a strictly larger magnitude,
    so an all-zero block keeps +0.0 whatever the zeros' signs. The block's max and min give
    the answer unless they tie in magnitude (``-x`` and ``x`` both present): those rare
    blocks take the first one by position.
    """
    high, low = _row_extreme(blocks, np.maximum), _row_extreme(blocks, np.minimum)
    # The sign of a float sum is exact: high + low < 0 iff |low| > |high|, == 0 iff they tie.
    balance = high + low
    picked = np.where(balance < 0, low, high)
    tied = np.flatnonzero((balance == 0) & (high != 0))
    if tied.size:
        first = np.argmax(np.abs(blocks[tied]) == high[tied, None], axis=1)
        picked[tied] = blocks[tied, first]
    picked += _F32(0.0)  # -0.0 + 0.0 is +0.0: an all-zero block keeps ggml's +0.0
    return picked


def _row_extreme(blocks: np.ndarray, pick: np.ufunc) -> np.ndarray:
    """Max or min of each row by halving (32 -> 16 -> ... -> 1): numpy's own reduction along a
    32-value row pays a per-row overhead several times the arithmetic."""
    values = pick(blocks[:, : QK // 2], blocks[:, QK // 2 :])
    while values.shape[1] > 1:
        half = values.shape[1] // 2
        values = pick(values[:, :half], values[:, half:])
    return values[:, 0]


def _inverse(d: np.ndarray) -> np.ndarray:
    """``d ? 1.0f/d : 0.0f`` in float32."""
    with np.errstate(divide="ignore"):
        return np.where(d != 0, _F32(1.0) / np.where(d != 0, d, _F32(1.0)), _F32(0.0)).astype(_F32)


def _f16_bytes(values: np.ndarray) -> np.ndarray:
    """float32 -> float16 (round to nearest even, like GGML_FP32_TO_FP16) as 2 bytes each.

    A scale beyond float16's range becomes inf, as in ggml.
    """
    return half.to_f16(values).view(np.uint8).reshape(-1, 2)


def _pack_nibbles(q: np.ndarray) -> np.ndarray:
    """Element j in the low nibble and element j+16 in the high nibble of byte j."""
    half = QK // 2
    q = q.astype(np.uint8, copy=False)
    return (q[:, :half] & 0x0F) | (q[:, half:] << 4)


def _pack_high_bits(q: np.ndarray) -> np.ndarray:
    """Bit 4 of each of the 32 values, value j in bit j of a little-endian uint32."""
    return np.packbits((q & 0x10) != 0, axis=1, bitorder="little")


def _truncate_to_int(values: np.ndarray) -> np.ndarray:
    """C's float -> integer conversion: toward zero."""
    return np.trunc(values).astype(np.int32)


def _assemble(*parts: np.ndarray) -> np.ndarray:
    """The blocks' fields side by side (each part [blocks, bytes]) in one preallocated array."""
    out = np.empty((parts[0].shape[0], sum(part.shape[1] for part in parts)), dtype=np.uint8)
    start = 0
    for part in parts:
        out[:, start : start + part.shape[1]] = part
        start += part.shape[1]
    return out


# --- quantizers ------------------------------------------------------------------------


def _symmetric(blocks: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray]:
    """q4_0 / q5_0: d = max / -levels/2, q = min(levels-1, (int)(x*id + levels/2 + 0.5)).

    x*id lies in [-levels/2, levels/2], so the sum is positive: clamping in float32 first and
    then truncating to uint8 gives the same integers as ggml's truncation then MIN.
    """
    half = _F32(levels // 2)
    d = (_signed_absmax(blocks) / -half).astype(_F32)
    scaled = blocks * _inverse(d)[:, None]
    scaled += half + _F32(0.5)
    np.minimum(scaled, _F32(levels - 1), out=scaled)
    return d, scaled.astype(np.uint8)


def _affine(blocks: np.ndarray, levels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """q4_1 / q5_1: d = (max - min) / (levels-1), q = (int)((x - min)*id + 0.5)."""
    low = _first_extreme(blocks, blocks.min(axis=1))
    high = _first_extreme(blocks, blocks.max(axis=1))
    d = ((high - low) / _F32(levels - 1)).astype(_F32)
    scaled = (blocks - low[:, None]) * _inverse(d)[:, None]
    q = _truncate_to_int(scaled + _F32(0.5))
    return d, low, q


def _quantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    d, q = _symmetric(blocks, 16)
    return _assemble(_f16_bytes(d), _pack_nibbles(q))


def _quantize_q5_0(blocks: np.ndarray) -> np.ndarray:
    d, q = _symmetric(blocks, 32)
    return _assemble(_f16_bytes(d), _pack_high_bits(q), _pack_nibbles(q))


def _quantize_q4_1(blocks: np.ndarray) -> np.ndarray:
    d, low, q = _affine(blocks, 16)
    return _assemble(_f16_bytes(d), _f16_bytes(low), _pack_nibbles(np.minimum(15, q)))


def _quantize_q5_1(blocks: np.ndarray) -> np.ndarray:
    # ggml casts to uint8_t here without clamping; keep the same bits.
    d, low, q = _affine(blocks, 32)
    q = q & 0xFF
    return _assemble(_f16_bytes(d), _f16_bytes(low), _pack_high_bits(q), _pack_nibbles(q))


def _quantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    amax = np.abs(blocks).max(axis=1)
    d = (amax / _F32(127)).astype(_F32)
    scaled = blocks * _inverse(d)[:, None]
    # roundf: half away from zero (np.round would round half to even).
    whole = np.trunc(scaled)
    q = whole + np.where(np.abs(scaled - whole) >= _F32(0.5), np.sign(scaled), _F32(0))
    return _assemble(_f16_bytes(d), q.astype(np.int8).view(np.uint8))


# --- dequantizers ----------------------------------------------------------------------


def _f16_column(blocks: np.ndarray, start: int) -> np.ndarray:
    return np.ascontiguousarray(blocks[:, start : start + 2]).view("<f2").astype(_F32)


def _unpack_nibbles(blocks: np.ndarray, start: int) -> np.ndarray:
    packed = blocks[:, start : start + QK // 2]
    return np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.int32)


def _unpack_high_bits(blocks: np.ndarray, start: int) -> np.ndarray:
    qh = np.ascontiguousarray(blocks[:, start : start + 4]).view("<u4")
    return ((qh >> np.arange(QK, dtype=np.uint32)) & 1).astype(np.int32) << 4


def _dequantize_q4_0(blocks: np.ndarray) -> np.ndarray:
    return (_unpack_nibbles(blocks, 2) - 8).astype(_F32) * _f16_column(blocks, 0)


def _dequantize_q4_1(blocks: np.ndarray) -> np.ndarray:
    return _unpack_nibbles(blocks, 4).astype(_F32) * _f16_column(blocks, 0) + _f16_column(blocks, 2)


def _dequantize_q5_0(blocks: np.ndarray) -> np.ndarray:
    q = _unpack_nibbles(blocks, 6) | _unpack_high_bits(blocks, 2)
    return (q - 16).astype(_F32) * _f16_column(blocks, 0)


def _dequantize_q5_1(blocks: np.ndarray) -> np.ndarray:
    q = _unpack_nibbles(blocks, 8) | _unpack_high_bits(blocks, 4)
    return q.astype(_F32) * _f16_column(blocks, 0) + _f16_column(blocks, 2)


def _dequantize_q8_0(blocks: np.ndarray) -> np.ndarray:
    return blocks[:, 2:].view(np.int8).astype(_F32) * _f16_column(blocks, 0)


_QUANTIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "q4_0": _quantize_q4_0,
    "q4_1": _quantize_q4_1,
    "q5_0": _quantize_q5_0,
    "q5_1": _quantize_q5_1,
    "q8_0": _quantize_q8_0,
}

_DEQUANTIZERS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "q4_0": _dequantize_q4_0,
    "q4_1": _dequantize_q4_1,
    "q5_0": _dequantize_q5_0,
    "q5_1": _dequantize_q5_1,
    "q8_0": _dequantize_q8_0,
}
