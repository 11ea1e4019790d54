"""formats.half: float32 -> f16 bit for bit as numpy (and so as whisper.cpp's converter) rounds."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from whisper_tune.formats import half


def _numpy_bits(values: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return values.astype("<f2").view(np.uint16)


def test_ggml_native_conversion_is_in_use_here():
    """pywhispercpp 1.5.1 ships ggml's CPU library: without it an f16 export is 17x slower."""
    assert half.native_available()


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_every_float32_up_to_past_f16_overflow_matches_numpy(sign):
    """Every 61st float32 bit pattern from 0 to beyond 65520 (where f16 overflows to inf), so
    every low-bit pattern recurs: normals, subnormals, ties, underflow to zero, rounding up
    into the next exponent."""
    patterns = np.arange(0, 0x47810000, 61, dtype=np.uint32)
    values = patterns.view(np.float32) * np.float32(sign)
    assert np.array_equal(half.to_f16(values).view(np.uint16), _numpy_bits(values))


def test_shapes_orders_and_dtypes():
    rng = np.random.default_rng(3)
    matrix = rng.standard_normal((64, 48)).astype(np.float32)
    out = half.to_f16(matrix)
    assert out.shape == (64, 48) and out.dtype == np.dtype("<f2")
    transposed = matrix.T  # not contiguous
    assert np.array_equal(half.to_f16(transposed).view(np.uint16), _numpy_bits(transposed))
    big_endian = matrix.astype(">f4")
    assert np.array_equal(half.to_f16(big_endian).view(np.uint16), _numpy_bits(matrix))
    wide = matrix.astype(np.float64) + 1e-12  # rounded once, straight to f16, as numpy does
    assert np.array_equal(half.to_f16(wide).view(np.uint16), _numpy_bits(wide))
    stored_f16 = matrix.astype(np.float16)
    assert half.to_f16(stored_f16).tobytes() == stored_f16.tobytes()
    assert half.to_f16(np.zeros((0, 3), np.float32)).shape == (0, 3)


def test_a_native_routine_that_rounds_differently_is_refused():
    """The probe catches a routine that truncates instead of rounding (the kind of
    difference a library built another way could have): numpy would then be used."""

    def truncating(source: int, destination: int, count: int) -> None:
        values = np.ctypeslib.as_array(ctypes.cast(source, ctypes.POINTER(ctypes.c_float)), (count,))
        out = np.ctypeslib.as_array(ctypes.cast(destination, ctypes.POINTER(ctypes.c_uint16)), (count,))
        bits = values.view(np.uint32)
        rounded = (bits & np.uint32(0xFFFFE000)).view(np.float32)  # drop the low mantissa bits
        out[:] = _numpy_bits(rounded)

    assert not half._agrees_with_numpy(truncating)
    native = half._native_converter()
    assert native is not None and half._agrees_with_numpy(native)
