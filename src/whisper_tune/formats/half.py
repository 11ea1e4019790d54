"""float32 -> IEEE half precision (f16), round to nearest even, as fast as the machine allows.

numpy converts to float16 in portable scalar code, about 1.5 ns a value: 2.3 s of CPU for a
large-v3 model, the largest single cost of an f16 export. x86-64 CPUs since 2012 (F16C) and
every 64-bit ARM CPU convert eight or more values in one instruction, and ggml's CPU library,
which pywhispercpp installs beside whisper.cpp, exposes exactly that loop
(``ggml_cpu_fp32_to_fp16``): 0.36 ms for 4M values here against numpy's 6.2 ms.

The native routine is used only once it has converted a probe of every kind of value (each
power of two of float16's range, ties at each, subnormals, zeros, the extremes, values that
overflow) to the very bits numpy gives; otherwise, or where the library is missing (another
pywhispercpp, a platform without its wheel), numpy does the work. The result is the same
either way, bit for bit: both round to nearest, ties to even, as whisper.cpp's converter does.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.metadata
import logging
import re
from collections.abc import Callable

import numpy as np

log = logging.getLogger(__name__)

#: The exported function of ggml's CPU backend: ``void (const float *, ggml_fp16_t *, int64_t)``.
_NATIVE_SYMBOL = "ggml_cpu_fp32_to_fp16"
#: File names of ggml's CPU backend library inside the pywhispercpp distribution.
_LIBRARY_NAME = re.compile(r"(lib)?ggml-cpu[^/]*\.(so[.0-9]*|dylib|dll)$")
_PROTOTYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)
#: (source address, destination address, count): the native routine's Python face.
_Converter = Callable[[int, int, int], None]


def to_f16(values: np.ndarray) -> np.ndarray:
    """``values`` (any float dtype, any shape) as little-endian float16, rounded to nearest even.

    Values beyond float16's range become infinity, as in numpy and ggml; callers that must
    not store infinity check the range first.
    """
    if values.dtype == np.float16:
        return np.ascontiguousarray(values, dtype="<f2")
    out = np.empty(values.shape, dtype="<f2")
    native = _native_converter()
    if native is None or values.dtype != np.dtype("<f4") or values.size == 0:
        with np.errstate(over="ignore"):  # overflow to inf: documented above
            np.copyto(out, values, casting="same_kind")  # one rounding, from any float type
    else:
        source = np.ascontiguousarray(values)
        native(source.ctypes.data, out.ctypes.data, source.size)  # ctypes releases the GIL
    return out


def native_available() -> bool:
    """Whether ggml's vectorized conversion is in use (for reports and benchmarks)."""
    return _native_converter() is not None


@functools.cache
def _native_converter() -> _Converter | None:
    for path in _candidate_libraries():
        try:
            native: _Converter = _PROTOTYPE((_NATIVE_SYMBOL, ctypes.CDLL(path)))
        except (OSError, AttributeError) as exc:
            log.debug("ggml f16 conversion: %s not usable (%s)", path, exc)
            continue
        if _agrees_with_numpy(native):
            log.debug("ggml f16 conversion: using %s", path)
            return native
        log.warning("ggml's f16 conversion in %s differs from numpy's rounding; using numpy's (slower)", path)
        return None
    return None


def _candidate_libraries() -> list[str]:
    """ggml CPU libraries shipped by the installed pywhispercpp, auditwheel's copies first
    (their dependencies resolve from their own folder)."""
    try:
        files = importlib.metadata.distribution("pywhispercpp").files or []
    except importlib.metadata.PackageNotFoundError:
        return []
    found = [str(file.locate()) for file in files if _LIBRARY_NAME.search(str(file))]
    return sorted(found, key=lambda path: (".libs" not in path, path))


def _probe_values() -> np.ndarray:
    """float32 values covering every rounding case of float32 -> float16."""
    exponents = np.arange(-26, 17, dtype=np.float32)
    powers = np.float32(2.0) ** exponents
    mantissas = np.array([1.0, 1.5, 1.0 + 2**-10, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 1.0 + 2**-11 + 2**-20,
                          1.0 + 2**-11 - 2**-20, 2.0 - 2**-11, 2.0 - 2**-12], dtype=np.float32)
    grid = np.outer(powers, mantissas).ravel()
    extremes = np.array([0.0, 65504.0, 65519.0, 65520.0, 1e30, 5.96e-8, 2.98e-8, 2.9e-8, 1e-45],
                        dtype=np.float32)
    noise = np.random.default_rng(0).standard_normal(4099).astype(np.float32) * np.float32(0.05)
    positive = np.concatenate([grid, extremes, noise])
    return np.concatenate([positive, -positive]).astype(np.float32)


def _agrees_with_numpy(native: _Converter) -> bool:
    probe = _probe_values()
    ours = np.empty(probe.shape, dtype="<f2")
    native(probe.ctypes.data, ours.ctypes.data, probe.size)
    with np.errstate(over="ignore"):
        expected = probe.astype("<f2")
    return bool(np.array_equal(ours.view(np.uint16), expected.view(np.uint16)))
