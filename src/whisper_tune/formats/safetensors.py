"""Reading safetensors files by rows, each file opened once, without mapping it.

Layout (https://github.com/huggingface/safetensors, "Format"): a little-endian uint64 N,
then N bytes of JSON header mapping each tensor name to ``{"dtype", "shape",
"data_offsets": [begin, end]}`` (offsets from the end of the header; an optional
``"__metadata__"`` entry holds strings), then the data, row-major, little-endian.

Why not the ``safetensors`` package for export: its ``safe_open`` maps the whole file, and
the pages of a mapping that stays open stay in the process's resident memory, so a large
model's export would grow to the model's size; opening a fresh mapping per read (what the
exporter did) keeps memory flat but costs a map, page faults and an unmap on every block.
This reader keeps one descriptor per file and reads rows with ``readinto`` straight into a
numpy array: one copy from the page cache, no mapping, memory bounded by the block.
Writing stays with the ``safetensors`` package (``save_file``).
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from whisper_tune.errors import FormatError

_HEADER_SIZE = struct.Struct("<Q")
#: A header larger than this is not a safetensors file (the format caps it at 100 MB).
MAX_HEADER_BYTES = 100_000_000
#: safetensors dtype -> numpy dtype as stored. BF16 is read as raw uint16 and widened.
DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
FLOAT_DTYPES = ("F32", "F16", "BF16")


@dataclass(frozen=True)
class TensorEntry:
    """One tensor's place in its file: ``offset`` is absolute (from the start of the file)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    offset: int
    nbytes: int

    @property
    def row_bytes(self) -> int:
        """Bytes per row along the first axis (the whole tensor for a scalar)."""
        rows = self.shape[0] if self.shape else 1
        return self.nbytes // rows if rows else 0


class SafetensorsReader:
    """One safetensors file, open for reads of whole rows until :meth:`close`."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise FormatError(f"{self.path}: cannot open ({exc.strerror})") from exc
        try:
            self.tensors = self._read_header()
            # The export reads each tensor front to back: let the kernel read ahead generously.
            if hasattr(os, "posix_fadvise"):
                os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except BaseException:
            os.close(self._fd)
            raise

    def __enter__(self) -> SafetensorsReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def read_rows(self, name: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` (first axis) of tensor ``name`` as stored; BF16 widened to float32."""
        entry = self.tensors[name]
        rows = entry.shape[0] if entry.shape else 1
        stop = rows if stop is None else min(stop, rows)
        dtype = DTYPES[entry.dtype]
        out = np.empty(((stop - start) * entry.row_bytes) // dtype.itemsize, dtype=dtype)
        self._read_into(out.data.cast("B"), entry.offset + start * entry.row_bytes)
        if entry.dtype == "BF16":
            out = (out.astype(np.uint32) << 16).view(np.float32)
        return out.reshape((stop - start, *entry.shape[1:]) if entry.shape else ())

    def _read_into(self, view: memoryview, offset: int) -> None:
        done = 0
        while done < len(view):
            count = os.preadv(self._fd, [view[done:]], offset + done)
            if count == 0:
                raise FormatError(f"{self.path}: file ends inside the tensor data at byte {offset + done}; "
                                  "the file is truncated")
            done += count

    def _read_header(self) -> dict[str, TensorEntry]:
        size = os.fstat(self._fd).st_size
        raw = os.pread(self._fd, _HEADER_SIZE.size, 0)
        if len(raw) != _HEADER_SIZE.size:
            raise FormatError(f"{self.path}: {size} bytes, too short for a safetensors file")
        (length,) = _HEADER_SIZE.unpack(raw)
        if not 0 < length <= min(MAX_HEADER_BYTES, size - _HEADER_SIZE.size):
            raise FormatError(f"{self.path}: header length {length} does not fit a {size}-byte file; "
                              "not a safetensors file")
        try:
            header = json.loads(os.pread(self._fd, length, _HEADER_SIZE.size))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FormatError(f"{self.path}: the safetensors header is not JSON ({exc})") from exc
        if not isinstance(header, dict):
            raise FormatError(f"{self.path}: the safetensors header is not a JSON object")
        base = _HEADER_SIZE.size + length
        return {name: self._entry(name, fields, base, size)
                for name, fields in header.items() if name != "__metadata__"}

    def _entry(self, name: str, fields: object, base: int, size: int) -> TensorEntry:
        try:
            dtype, shape, (begin, end) = fields["dtype"], fields["shape"], fields["data_offsets"]  # type: ignore[index]
            shape = tuple(int(dim) for dim in shape)
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"{self.path}: tensor {name!r} has a malformed header entry ({exc})") from exc
        if dtype not in DTYPES:
            raise FormatError(f"{self.path}: tensor {name!r} has dtype {dtype!r}; expected one of {', '.join(DTYPES)}")
        expected = DTYPES[dtype].itemsize * int(np.prod(shape, dtype=np.int64))
        if end - begin != expected or begin < 0 or base + end > size:
            raise FormatError(f"{self.path}: tensor {name!r} claims bytes {begin}..{end} for {dtype} {list(shape)} "
                              f"({expected} bytes) in a {size}-byte file; the file is corrupt or truncated")
        return TensorEntry(name, dtype, shape, base + begin, expected)


SINGLE_FILE = "model.safetensors"
#: Hugging Face's index of a sharded checkpoint: ``{"weight_map": {tensor name: shard file}}``.
INDEX_FILE = "model.safetensors.index.json"
_RESAVE = "re-save the model with save_pretrained(..., safe_serialization=True)"


def has_safetensors(model_dir: Path) -> bool:
    """The folder holds a single safetensors file or a shard index (not validated here)."""
    return (model_dir / SINGLE_FILE).is_file() or (model_dir / INDEX_FILE).is_file()


def weight_files(model_dir: Path) -> list[Path]:
    """The safetensors files of a Hugging Face folder: ``model.safetensors``, else the shards its
    index names (each once, sorted). The one shard finder of whisper-tune (export, ``check``,
    model loading).

    Raises :class:`FormatError` naming the file when there are none or the index is broken:
    not JSON, no ``weight_map``, a shard that is missing or outside the folder, a tensor listed
    twice.
    """
    single = model_dir / SINGLE_FILE
    if single.is_file():
        return [single]
    index = model_dir / INDEX_FILE
    if not index.is_file():
        raise FormatError(
            f"{model_dir}: no {SINGLE_FILE} (or {INDEX_FILE} with shards); only safetensors weights are read. "
            f"{_RESAVE[0].upper()}{_RESAVE[1:]}"
        )
    weight_map = _weight_map(index)
    shards = []
    for name in sorted(set(weight_map.values())):
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise FormatError(f"{index}: shard {name!r} is outside the model folder; an index names files beside it")
        shard = model_dir / name
        if not shard.is_file():
            held = sum(1 for value in weight_map.values() if value == name)
            raise FormatError(f"{index}: shard {name} is missing from {model_dir} (it holds {held} tensor(s)); "
                              "copy every shard the index lists")
        shards.append(shard)
    return shards


def index_tensors(readers: Iterable[SafetensorsReader]) -> dict[str, SafetensorsReader]:
    """Tensor name -> the open file holding it; :class:`FormatError` for a tensor held by two
    files (which one a loader would use is unspecified)."""
    where: dict[str, SafetensorsReader] = {}
    for reader in readers:
        for name in reader.tensors:
            if name in where:
                raise FormatError(f"tensor {name} is in two shards, {where[name].path.name} and {reader.path.name}; "
                                  f"{_RESAVE}")
            where[name] = reader
    return where


def tensor_locations(model_dir: Path) -> dict[str, Path]:
    """Tensor name -> weight file, for every tensor of the folder (headers only are read)."""
    readers: list[SafetensorsReader] = []
    try:
        for file in weight_files(model_dir):
            readers.append(SafetensorsReader(file))
        return {name: reader.path for name, reader in index_tensors(readers).items()}
    finally:
        for reader in readers:
            reader.close()


def _weight_map(index: Path) -> dict[str, str]:
    try:
        data = json.loads(index.read_text(encoding="utf-8"), object_pairs_hook=_refuse_duplicate_keys(index))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(f"{index}: not a readable safetensors index (not JSON: {exc}); {_RESAVE}") from exc
    except OSError as exc:
        raise FormatError(f"{index}: not a readable safetensors index ({exc.strerror})") from exc
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise FormatError(f"{index}: not a readable safetensors index: it has no \"weight_map\" object "
                          f"(tensor name -> shard file); {_RESAVE}")
    bad = next((key for key, value in weight_map.items() if not isinstance(value, str) or not value), None)
    if bad is not None:
        raise FormatError(f"{index}: weight_map[{bad!r}] is {weight_map[bad]!r}; expected a shard file name")
    return weight_map


def _refuse_duplicate_keys(index: Path) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    """A JSON object hook refusing a key listed twice: json keeps the last one silently, which
    would hide that two shards claim the same tensor."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in pairs:
            if key in seen:
                raise FormatError(f"{index}: {key!r} is listed twice; each tensor belongs to exactly one shard: "
                                  f"{_RESAVE}")
            seen[key] = value
        return seen

    return hook
