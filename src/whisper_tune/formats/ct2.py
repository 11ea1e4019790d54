"""CTranslate2 ``model.bin``: the checkpoint format of CTranslate2 / faster-whisper.

Layout (little-endian; see docs/CTRANSLATE2.md):

    uint32 binary_version            (6)
    string spec_name                 ("WhisperSpec")
    uint32 spec_revision
    uint32 n_variables
    n_variables x (string name, uint8 rank, rank x uint32 dim, uint8 dtype,
                   uint32 n_bytes, n_bytes raw data)
    uint32 n_aliases
    n_aliases x (string alias, string target)

A string is a uint16 length that counts a trailing NUL, the bytes, then the NUL.
The reader and the writer live here; nothing else in whisper-tune packs these bytes.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import numpy as np

from whisper_tune.errors import FormatError
from whisper_tune.fileio import atomic_open

SUPPORTED_BINARY_VERSIONS = (5, 6)

#: CTranslate2 dtype codes.
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"),
    1: np.dtype("i1"),
    2: np.dtype("<i2"),
    3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
#: bfloat16 has no numpy dtype: stored as uint16 bit patterns and widened on read.
DTYPE_BF16 = 5
DTYPE_CODES: dict[np.dtype, int] = {dtype: code for code, dtype in DTYPES.items()}


@dataclass
class Ct2Checkpoint:
    """An in-memory CTranslate2 checkpoint."""

    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    binary_version: int = 6

    def get(self, name: str) -> np.ndarray:
        """A variable by name, following aliases (e.g. a tied output projection)."""
        seen = set()
        while name in self.aliases and name not in self.variables:
            if name in seen:
                raise FormatError(f"alias cycle at {name!r}")
            seen.add(name)
            name = self.aliases[name]
        try:
            return self.variables[name]
        except KeyError:
            raise FormatError(f"variable {name!r} is not in the checkpoint") from None


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data = data
        self.pos = 0
        self.path = path

    def take(self, n: int, what: str) -> memoryview:
        end = self.pos + n
        if end > len(self.data):
            raise FormatError(
                f"{self.path}: truncated CTranslate2 file while reading {what} "
                f"(needs {n} bytes at offset {self.pos}, file has {len(self.data)})"
            )
        chunk = memoryview(self.data)[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return struct.unpack("<H", self.take(2, what))[0]

    def u32(self, what: str) -> int:
        return struct.unpack("<I", self.take(4, what))[0]

    def string(self, what: str) -> str:
        length = self.u16(what)
        raw = bytes(self.take(length, what))
        if not raw.endswith(b"\0"):
            raise FormatError(f"{self.path}: {what} is not NUL-terminated at offset {self.pos}")
        return raw[:-1].decode("utf-8")


def read_ct2(path: str | os.PathLike[str]) -> Ct2Checkpoint:
    """Read a ``model.bin`` (or the folder holding it)."""
    file = Path(path)
    if file.is_dir():
        file = file / "model.bin"
    if not file.is_file():
        raise FormatError(f"{file}: no CTranslate2 model.bin here")
    reader = _Reader(file.read_bytes(), file)
    version = reader.u32("binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        raise FormatError(
            f"{file}: CTranslate2 binary version {version} is not supported "
            f"(expected one of {SUPPORTED_BINARY_VERSIONS}); is this a CTranslate2 model.bin?"
        )
    spec_name = reader.string("spec name")
    revision = reader.u32("spec revision")
    variables: dict[str, np.ndarray] = {}
    for _ in range(reader.u32("variable count")):
        name = reader.string("variable name")
        variables[name] = _read_variable(reader, name)
    aliases = {}
    if reader.pos < len(reader.data):
        for _ in range(reader.u32("alias count")):
            alias = reader.string("alias")
            aliases[alias] = reader.string("alias target")
    if reader.pos != len(reader.data):
        raise FormatError(f"{file}: {len(reader.data) - reader.pos} unexpected trailing bytes")
    return Ct2Checkpoint(spec_name, revision, variables, aliases, version)


def _read_variable(reader: _Reader, name: str) -> np.ndarray:
    rank = reader.u8(f"rank of {name}")
    shape = tuple(reader.u32(f"dim of {name}") for _ in range(rank))
    code = reader.u8(f"dtype of {name}")
    n_bytes = reader.u32(f"byte count of {name}")
    raw = reader.take(n_bytes, f"data of {name}")
    if code == DTYPE_BF16:
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        array = bits.view(np.float32)
    elif code in DTYPES:
        array = np.frombuffer(raw, dtype=DTYPES[code]).copy()
    else:
        raise FormatError(f"{reader.path}: variable {name!r} has unknown dtype code {code}")
    expected = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if array.size != expected:
        raise FormatError(
            f"{reader.path}: variable {name!r} holds {array.size} values, its shape {shape} needs {expected}"
        )
    return array.reshape(shape)


def write_ct2(
    path: str | os.PathLike[str],
    spec_name: str,
    spec_revision: int,
    variables: Mapping[str, np.ndarray],
    aliases: Mapping[str, str] | None = None,
    binary_version: int = 6,
) -> None:
    """Write a ``model.bin`` atomically (used for round-trip tests and small fixtures)."""
    with atomic_open(path, "wb") as handle:
        handle.write(struct.pack("<I", binary_version))
        _write_string(handle, spec_name)
        handle.write(struct.pack("<II", spec_revision, len(variables)))
        for name, value in variables.items():
            array = np.ascontiguousarray(value)
            if array.dtype not in DTYPE_CODES:
                raise FormatError(f"cannot store {name!r}: dtype {array.dtype} has no CTranslate2 code")
            _write_string(handle, name)
            handle.write(struct.pack("<B", array.ndim))
            handle.write(struct.pack(f"<{array.ndim}I", *array.shape))
            data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            handle.write(struct.pack("<BI", DTYPE_CODES[array.dtype], len(data)))
            handle.write(data)
        alias_items = list((aliases or {}).items())
        handle.write(struct.pack("<I", len(alias_items)))
        for alias, target in alias_items:
            _write_string(handle, alias)
            _write_string(handle, target)


def _write_string(handle: IO[bytes], text: str) -> None:
    raw = text.encode("utf-8") + b"\0"
    handle.write(struct.pack("<H", len(raw)))
    handle.write(raw)
