"""whisper.cpp's legacy GGML model file ("ggml-*.bin"): constants, writer, reader, validator.

Layout (all little-endian, no padding; what whisper.cpp 1.8.x and FUTO Voice Input load):

1. uint32 magic ``0x67676d6c``;
2. 11 int32 hyper-parameters (:class:`Hparams`, in field order);
3. mel filters: int32 n_mel, int32 n_fft (201), n_mel*n_fft float32, row-major [mel][freq];
4. vocabulary: int32 count, then per token int32 length + raw bytes (id = position);
5. tensors until end of file: int32 n_dims, int32 name length, int32 ggml type, n_dims
   int32 dims in *reversed* numpy order (ne[0] is the contiguous axis), the name, the data.

whisper.cpp never converts tensor types while loading and barely validates the file, so
:func:`validate_ggml` checks everything the loader would reject, abort on or silently
misread. :func:`expected_tensors` is the single statement of which tensors, shapes and types
a model of given hyper-parameters must hold; the exporter writes exactly that.
"""

from __future__ import annotations

import enum
import hashlib
import os
import struct
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field, fields
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from whisper_tune.errors import FormatError
from whisper_tune.formats import ggml_quants, half
from whisper_tune.whisper_constants import (
    MEL_BINS,
    N_FFT_BINS,
    N_TEXT_TOKENS,
    VOCAB_SIZES,
    WHISPER_CPP_MODEL_TYPES,
    family_name,
    is_multilingual,
    n_languages,
)

MAGIC = 0x67676D6C
#: whisper.cpp 1.8.5 runs the encoder's convolutions through an f16-only im2col on the CPU, so
#: an f32 file (f32 conv weights, which its loader insists on) aborts at the first encode.
F32_CPU_WARNING = (
    "whisper.cpp (1.8.5) aborts on the CPU when encoding with an f32 model: its convolution "
    "requires f16 conv weights, which an f32 file cannot hold (GGML_ASSERT(src0->type == "
    "GGML_TYPE_F16), upstream issue 2557). Use f16 (lossless for OpenAI's fp16 weights) or q8_0"
)
#: Quantized files store ``QNT_VERSION * QNT_VERSION_FACTOR + ftype``.
QNT_VERSION = 2
QNT_VERSION_FACTOR = 1000

_I32 = struct.Struct("<i")
_TENSOR_HEADER = struct.Struct("<iii")


class GgmlType(enum.IntEnum):
    """ggml tensor types whisper.cpp model files use (ggml_type values)."""

    F32 = 0
    F16 = 1
    Q4_0 = 2
    Q4_1 = 3
    Q5_0 = 6
    Q5_1 = 7
    Q8_0 = 8

    @property
    def label(self) -> str:
        return self.name.lower()

    @property
    def quantized(self) -> bool:
        return self not in (GgmlType.F32, GgmlType.F16)


#: dtype name -> (ggml_ftype, tensor type of the large weights).
DTYPES: dict[str, tuple[int, GgmlType]] = {
    "f32": (0, GgmlType.F32),
    "f16": (1, GgmlType.F16),
    "q4_0": (2, GgmlType.Q4_0),
    "q4_1": (3, GgmlType.Q4_1),
    "q8_0": (7, GgmlType.Q8_0),
    "q5_0": (8, GgmlType.Q5_0),
    "q5_1": (9, GgmlType.Q5_1),
}

#: Tensors with 2 dims that whisper-quantize leaves in f32 (whisper.cpp creates them f32).
F32_MATRICES: frozenset[str] = frozenset(
    {"encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding", "decoder.positional_embedding"}
)


def file_ftype(dtype: str) -> int:
    """The value of the hparams ``ftype`` field for ``dtype`` (quantized ones carry 2000+)."""
    ftype, wtype = _dtype_entry(dtype)
    return QNT_VERSION * QNT_VERSION_FACTOR + ftype if wtype.quantized else ftype


def dtype_of_ftype(ftype: int) -> str | None:
    """The dtype name of a file's ``ftype`` field, or None if whisper.cpp does not know it."""
    base = ftype % QNT_VERSION_FACTOR
    for name, (value, _) in DTYPES.items():
        if value == base:
            return name
    return None


def tensor_type(name: str, n_dims: int, dtype: str) -> GgmlType:
    """The type whisper.cpp expects for tensor ``name`` in a ``dtype`` file (it never converts).

    2-D weights (attention, mlp, token embedding) take the file's type; the 3-D conv weights
    are f32 in an f32 file and f16 in every other; everything else is f32.
    """
    _, wtype = _dtype_entry(dtype)
    if n_dims == 3:
        return GgmlType.F32 if wtype is GgmlType.F32 else GgmlType.F16
    if n_dims == 2 and name not in F32_MATRICES:
        return wtype
    return GgmlType.F32


def tensor_nbytes(ttype: GgmlType, shape: tuple[int, ...]) -> int:
    n_values = int(np.prod(shape, dtype=np.int64))
    if ttype is GgmlType.F32:
        return 4 * n_values
    if ttype is GgmlType.F16:
        return 2 * n_values
    return ggml_quants.quantized_nbytes(ttype.label, n_values)


@dataclass(frozen=True)
class Hparams:
    """The 11 int32 header fields, in file order."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int
    ftype: int

    @property
    def multilingual(self) -> bool:
        return is_multilingual(self.n_vocab)

    @property
    def n_languages(self) -> int:
        """Language tokens whisper.cpp assumes (99 for 51865, 100 for large-v3's 51866)."""
        return n_languages(self.n_vocab)

    @property
    def dtype(self) -> str | None:
        return dtype_of_ftype(self.ftype)

    def pack(self) -> bytes:
        return struct.pack("<11i", *astuple(self))

    @classmethod
    def unpack(cls, raw: bytes) -> Hparams:
        return cls(*struct.unpack("<11i", raw))


HPARAMS_BYTES = 4 * len(fields(Hparams))


@dataclass(frozen=True)
class TensorSpec:
    """A tensor whisper.cpp expects: numpy-order shape and ggml type."""

    shape: tuple[int, ...]
    ttype: GgmlType


def expected_tensors(hp: Hparams) -> dict[str, TensorSpec]:
    """Every tensor whisper.cpp creates for ``hp``, in the order the exporter writes them.

    The order is that of the Hugging Face modules, which whisper.cpp's own converter follows,
    so an export of the same weights is byte-identical to the converter's file.
    """
    dtype = hp.dtype
    if dtype is None:
        raise FormatError(f"ftype {hp.ftype} is not one whisper.cpp knows; expected one of {_ftype_list()}")
    a, t = hp.n_audio_state, hp.n_text_state
    shapes: dict[str, tuple[int, ...]] = {
        "encoder.conv1.weight": (a, hp.n_mels, 3),
        "encoder.conv1.bias": (a, 1),
        "encoder.conv2.weight": (a, a, 3),
        "encoder.conv2.bias": (a, 1),
        "encoder.positional_embedding": (hp.n_audio_ctx, a),
    }
    for i in range(hp.n_audio_layer):
        shapes.update(_block_shapes(f"encoder.blocks.{i}", a, cross=False))
    shapes["encoder.ln_post.weight"] = (a,)
    shapes["encoder.ln_post.bias"] = (a,)
    shapes["decoder.token_embedding.weight"] = (hp.n_vocab, t)
    shapes["decoder.positional_embedding"] = (hp.n_text_ctx, t)
    for i in range(hp.n_text_layer):
        shapes.update(_block_shapes(f"decoder.blocks.{i}", t, cross=True))
    shapes["decoder.ln.weight"] = (t,)
    shapes["decoder.ln.bias"] = (t,)
    return {name: TensorSpec(shape, tensor_type(name, len(shape), dtype)) for name, shape in shapes.items()}


def _block_shapes(prefix: str, n: int, cross: bool) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for attn in ("attn", "cross_attn") if cross else ("attn",):
        # key, value, query, out: the order of Hugging Face's attention module.
        shapes[f"{prefix}.{attn}.key.weight"] = (n, n)  # Whisper's key projections have no bias
        for proj in ("value", "query", "out"):
            shapes[f"{prefix}.{attn}.{proj}.weight"] = (n, n)
            shapes[f"{prefix}.{attn}.{proj}.bias"] = (n,)
        shapes[f"{prefix}.{attn}_ln.weight"] = (n,)
        shapes[f"{prefix}.{attn}_ln.bias"] = (n,)
    shapes[f"{prefix}.mlp.0.weight"] = (4 * n, n)
    shapes[f"{prefix}.mlp.0.bias"] = (4 * n,)
    shapes[f"{prefix}.mlp.2.weight"] = (n, 4 * n)
    shapes[f"{prefix}.mlp.2.bias"] = (n,)
    shapes[f"{prefix}.mlp_ln.weight"] = (n,)
    shapes[f"{prefix}.mlp_ln.bias"] = (n,)
    return shapes


# --- encoding --------------------------------------------------------------------------


def encode_tensor(values: np.ndarray, ttype: GgmlType) -> np.ndarray:
    """The bytes of ``values`` stored as ``ttype`` (float32 kept exact; f16 rounds to nearest)."""
    if ttype is GgmlType.F32:
        return np.ascontiguousarray(values, dtype="<f4").reshape(-1).view(np.uint8)
    if ttype is GgmlType.F16:
        return half.to_f16(values).reshape(-1).view(np.uint8)
    return ggml_quants.quantize(values, ttype.label)


def decode_tensor(raw: np.ndarray, ttype: GgmlType, shape: tuple[int, ...]) -> np.ndarray:
    """float32 values of a tensor's raw bytes (dequantized exactly as ggml does)."""
    if ttype is GgmlType.F32:
        return raw.view("<f4").reshape(shape).astype(np.float32)
    if ttype is GgmlType.F16:
        return raw.view("<f2").reshape(shape).astype(np.float32)
    return ggml_quants.dequantize(raw, ttype.label, shape)


class GgmlWriter:
    """Writes a model file to an open binary handle: :meth:`write_header`, then tensors."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.bytes_written = 0

    def write_header(self, hp: Hparams, mel_filters: np.ndarray, vocab: Iterable[bytes]) -> None:
        tokens = list(vocab)
        filters = np.ascontiguousarray(mel_filters, dtype="<f4")
        if filters.ndim != 2:
            raise FormatError(f"mel filters must be [n_mel, n_fft], got shape {filters.shape}")
        parts = [_I32.pack(MAGIC), hp.pack(), struct.pack("<ii", *filters.shape), filters.tobytes()]
        parts.append(_I32.pack(len(tokens)))
        for token in tokens:
            parts.append(_I32.pack(len(token)))
            parts.append(bytes(token))
        self._write(b"".join(parts))

    def write_tensor(self, name: str, ttype: GgmlType, values: np.ndarray) -> int:
        """Encode ``values`` (numpy order) as ``ttype`` and append it; returns the data size."""
        return self.write_tensor_rows(name, ttype, tuple(values.shape), [values])

    def write_tensor_rows(self, name: str, ttype: GgmlType, shape: tuple[int, ...], parts: Iterable[np.ndarray]) -> int:
        """Append a tensor of numpy ``shape`` given as consecutive blocks of whole rows.

        Lets a caller stream a large tensor (a token embedding) without holding all of it;
        every type here encodes rows independently. Returns the data size.
        """
        return self.write_encoded_tensor(name, ttype, shape, (encode_tensor(part, ttype) for part in parts))

    def write_encoded_tensor(self, name: str, ttype: GgmlType, shape: tuple[int, ...],
                             encoded_parts: Iterable[np.ndarray]) -> int:
        """Append a tensor whose data comes already encoded (:func:`encode_tensor` of
        consecutive row blocks, e.g. by worker threads); checks the total size."""
        encoded_name = name.encode("utf-8")
        header = _TENSOR_HEADER.pack(len(shape), len(encoded_name), int(ttype))
        self._write(header + struct.pack(f"<{len(shape)}i", *reversed(shape)) + encoded_name)
        written = 0
        for data in encoded_parts:
            self._write(data.data)  # the array's own memoryview: no copy
            written += int(data.size)
        if written != tensor_nbytes(ttype, shape):
            raise FormatError(f"tensor {name}: {written} bytes of data written, expected {tensor_nbytes(ttype, shape)} "
                              f"for {ttype.label} {list(shape)}; the file is invalid")
        return written

    def _write(self, data: bytes | memoryview) -> None:
        self._handle.write(data)
        self.bytes_written += len(data)


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GgmlTensor:
    """One tensor's header; its data is read from ``path`` only on request."""

    path: Path
    name: str
    ttype: int  # a GgmlType value, or an unknown int as found in the file
    shape: tuple[int, ...]  # numpy order (the file stores it reversed)
    offset: int  # of the data, from the start of the file
    nbytes: int  # the size the type and shape imply (may run past the end of a bad file)

    @property
    def type_name(self) -> str:
        return GgmlType(self.ttype).label if self.ttype in GgmlType._value2member_map_ else f"type{self.ttype}"

    def raw(self) -> np.ndarray:
        """The data bytes as uint8. Raises :class:`FormatError` if the file ends before them."""
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.nbytes)
        if len(data) != self.nbytes:
            raise FormatError(
                f"{self.path}: tensor {self.name} is truncated ({len(data)} of {self.nbytes} bytes); "
                "the file is incomplete, export it again"
            )
        return np.frombuffer(data, dtype=np.uint8)

    def sha256(self) -> str:
        return hashlib.sha256(self.raw().tobytes()).hexdigest()

    def to_float32(self) -> np.ndarray:
        """The values as float32 in numpy order, dequantized if needed."""
        if self.ttype not in GgmlType._value2member_map_:
            raise FormatError(
                f"{self.path}: tensor {self.name} has ggml type {self.ttype}, which whisper-tune cannot decode"
            )
        return decode_tensor(self.raw(), GgmlType(self.ttype), self.shape)


@dataclass
class GgmlFile:
    """A parsed model file. ``tensors`` keeps file order; a duplicated name keeps the last."""

    path: Path
    file_size: int
    hparams: Hparams
    mel_filters: np.ndarray
    vocab: list[bytes]
    tensors: dict[str, GgmlTensor]
    tensor_order: list[str]
    #: Layout problems found while reading (truncated data, trailing bytes), see validate_ggml.
    structure_problems: list[Problem] = field(default_factory=list)

    @property
    def dtype(self) -> str | None:
        return self.hparams.dtype

    def bytes_per_type(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for tensor in self.tensors.values():
            totals[tensor.type_name] = totals.get(tensor.type_name, 0) + tensor.nbytes
        return totals


@dataclass(frozen=True)
class Problem:
    """One inconsistency: ``error`` means whisper.cpp fails or misreads; ``warning`` is suspicious."""

    severity: Literal["error", "warning"]
    message: str
    tensor: str | None = None

    def __str__(self) -> str:
        return f"{self.severity}: {self.message}"


def read_ggml(path: str | os.PathLike[str]) -> GgmlFile:
    """Parse a whisper.cpp model file's header, mel filters, vocabulary and tensor headers.

    Tensor data is not read (see :meth:`GgmlTensor.raw`). Raises :class:`FormatError` when
    the file is not a GGML model or its header, filters or vocabulary are cut short; a
    truncated or malformed *tensor* section is recorded in ``structure_problems`` instead, so
    :func:`validate_ggml` can report it alongside everything else.
    """
    file = Path(path)
    if not file.is_file():
        raise FormatError(f"{file}: no such file")
    size = file.stat().st_size
    with open(file, "rb") as handle:
        reader = _Reader(handle, file, size)
        magic = reader.u32("magic")
        if magic != MAGIC:
            hint = " (this is a GGUF file; whisper.cpp model files are legacy GGML)" if magic == 0x46554747 else ""
            raise FormatError(
                f"{file}: not a whisper.cpp GGML model: magic {magic:#010x}, expected {MAGIC:#010x}{hint}"
            )
        hp = Hparams.unpack(reader.take(HPARAMS_BYTES, "hyper-parameters"))
        n_mel, n_fft = reader.i32("mel filter count"), reader.i32("FFT bin count")
        if not (0 < n_mel <= 1024 and 0 < n_fft <= 4096):
            raise FormatError(
                f"{file}: implausible mel filter bank size {n_mel}x{n_fft}; expected {hp.n_mels}x{N_FFT_BINS}"
            )
        mel = np.frombuffer(reader.take(4 * n_mel * n_fft, "mel filters"), dtype="<f4").reshape(n_mel, n_fft)
        vocab = _read_vocab(reader)
        tensors, order, problems = _read_tensor_headers(reader)
    return GgmlFile(file, size, hp, mel.astype(np.float32), vocab, tensors, order, problems)


def _read_vocab(reader: _Reader) -> list[bytes]:
    count = reader.i32("vocabulary size")
    if not 0 <= count <= 1_000_000:
        raise FormatError(f"{reader.path}: implausible vocabulary size {count} at byte {reader.pos - 4}")
    vocab = []
    for index in range(count):
        length = reader.i32(f"length of token {index}")
        if not 0 <= length <= 1024:
            raise FormatError(f"{reader.path}: token {index} has implausible length {length}")
        vocab.append(reader.take(length, f"token {index}"))
    return vocab


def _read_tensor_headers(reader: _Reader) -> tuple[dict[str, GgmlTensor], list[str], list[Problem]]:
    tensors: dict[str, GgmlTensor] = {}
    order: list[str] = []
    problems: list[Problem] = []
    while reader.pos < reader.size:
        start = reader.pos
        if reader.size - start < _TENSOR_HEADER.size:
            problems.append(
                Problem("error", f"{reader.size - start} trailing bytes after the last tensor (at byte {start})")
            )
            break
        n_dims, name_len, ttype = _TENSOR_HEADER.unpack(reader.take(_TENSOR_HEADER.size, "tensor header"))
        if not (1 <= n_dims <= 4 and 0 < name_len <= 512) or reader.size - reader.pos < 4 * n_dims + name_len:
            problems.append(
                Problem("error", f"unreadable tensor header at byte {start} (n_dims {n_dims}, name length {name_len}); "
                        "the data before it is corrupt or the file has trailing bytes")
            )
            break
        dims = struct.unpack(f"<{n_dims}i", reader.take(4 * n_dims, "tensor dims"))
        name = reader.take(name_len, "tensor name").decode("utf-8", errors="replace")
        shape = tuple(reversed(dims))
        nbytes = _nbytes_or_none(ttype, shape)
        if nbytes is None:
            problems.append(Problem("error", f"tensor {name} has unknown ggml type {ttype}; cannot read past it", name))
            break
        if name in tensors:
            problems.append(Problem("error", f"tensor {name} appears twice (again at byte {start})", name))
        else:
            order.append(name)
        tensors[name] = GgmlTensor(reader.path, name, ttype, shape, reader.pos, nbytes)
        if reader.size - reader.pos < nbytes:
            problems.append(
                Problem("error", f"tensor {name} is truncated: {reader.size - reader.pos} of {nbytes} data bytes "
                        "present; the file is incomplete, export it again", name)
            )
            break
        reader.seek(reader.pos + nbytes)
    return tensors, order, problems


def _nbytes_or_none(ttype: int, shape: tuple[int, ...]) -> int | None:
    if ttype not in GgmlType._value2member_map_ or any(d < 0 for d in shape):
        return None
    kind = GgmlType(ttype)
    if kind.quantized and int(np.prod(shape, dtype=np.int64)) % ggml_quants.QK:
        return None
    return tensor_nbytes(kind, shape)


class _Reader:
    """Sequential reads that name what was being read when the file ends early."""

    def __init__(self, handle: BinaryIO, path: Path, size: int) -> None:
        self.handle, self.path, self.size, self.pos = handle, path, size, 0

    def take(self, n: int, what: str) -> bytes:
        data = self.handle.read(n)
        if len(data) != n:
            raise FormatError(f"{self.path}: file ends inside the {what} (byte {self.pos}, {self.size} bytes in all)")
        self.pos += n
        return data

    def seek(self, pos: int) -> None:
        self.handle.seek(pos)
        self.pos = pos

    def i32(self, what: str) -> int:
        return int(_I32.unpack(self.take(4, what))[0])

    def u32(self, what: str) -> int:
        return int(struct.unpack("<I", self.take(4, what))[0])


# --- validation ------------------------------------------------------------------------


def validate_ggml(source: str | os.PathLike[str] | GgmlFile, check_values: bool = False) -> list[Problem]:
    """Every inconsistency whisper.cpp would reject, abort on or silently misread.

    Checks the hyper-parameters (vocabulary size, mel bins, ftype), the mel filter bank and
    vocabulary against them, and each tensor against :func:`expected_tensors` (missing,
    unknown, duplicated, wrong shape, wrong type), plus truncated data, trailing bytes and a
    file without tensors. ``check_values`` also reads every tensor and reports non-finite
    values (slower: the whole file is read). An empty list means the file is sound.
    Raises :class:`FormatError` only when the file cannot be parsed at all.
    """
    ggml = source if isinstance(source, GgmlFile) else read_ggml(source)
    problems = list(ggml.structure_problems)
    problems += _hparams_problems(ggml)
    problems += _tensor_problems(ggml)
    if check_values:
        problems += _value_problems(ggml)
    return problems


def summarize_ggml(path: str | os.PathLike[str], check_values: bool = False) -> dict[str, Any]:
    """A JSON-ready report of a model file: header, sizes and :func:`validate_ggml`'s problems."""
    ggml = read_ggml(path)
    problems = validate_ggml(ggml, check_values=check_values)
    hp = ggml.hparams
    return {
        "path": str(ggml.path),
        "size_bytes": ggml.file_size,
        "dtype": hp.dtype,
        "model": WHISPER_CPP_MODEL_TYPES.get(hp.n_audio_layer, "unknown"),
        "family": family_name(hp.n_audio_layer, hp.n_text_layer, hp.n_audio_state, hp.n_mels, hp.n_vocab),
        "multilingual": hp.multilingual,
        "hparams": {f.name: getattr(hp, f.name) for f in fields(hp)},
        "mel_filters": list(ggml.mel_filters.shape),
        "vocab_tokens": len(ggml.vocab),
        "n_tensors": len(ggml.tensor_order),
        "bytes_per_type": ggml.bytes_per_type(),
        "problems": [{"severity": p.severity, "message": p.message, "tensor": p.tensor} for p in problems],
    }


def _hparams_problems(ggml: GgmlFile) -> list[Problem]:
    hp, problems = ggml.hparams, []
    if hp.n_vocab not in VOCAB_SIZES:
        problems.append(Problem(
            "error", f"n_vocab is {hp.n_vocab}; whisper.cpp derives its special-token ids from n_vocab and only "
            f"{', '.join(map(str, VOCAB_SIZES))} give the right ids (others shift every special token)"))
    if hp.n_mels not in MEL_BINS:
        problems.append(Problem("error", f"n_mels is {hp.n_mels}; whisper models use 80 (or 128 for large-v3)"))
    if hp.dtype == "f32":
        problems.append(Problem("warning", F32_CPU_WARNING))
    if hp.dtype is None:
        problems.append(
            Problem(
                "error",
                f"ftype {hp.ftype} is unknown to whisper.cpp (it aborts on load); expected one of {_ftype_list()}",
            )
        )
    for name in ("n_audio_ctx", "n_audio_state", "n_audio_head", "n_audio_layer", "n_text_ctx",
                 "n_text_state", "n_text_head", "n_text_layer"):
        if getattr(hp, name) <= 0:
            problems.append(Problem("error", f"{name} is {getattr(hp, name)}; expected a positive number"))
    for state, head in (("n_audio_state", "n_audio_head"), ("n_text_state", "n_text_head")):
        if getattr(hp, head) > 0 and getattr(hp, state) % getattr(hp, head):
            problems.append(
                Problem("error", f"{state} {getattr(hp, state)} is not divisible by {head} {getattr(hp, head)}")
            )
    if ggml.mel_filters.shape != (hp.n_mels, N_FFT_BINS):
        problems.append(Problem(
            "error", f"mel filter bank is {ggml.mel_filters.shape[0]}x{ggml.mel_filters.shape[1]}, "
            f"expected {hp.n_mels}x{N_FFT_BINS} (n_mels x FFT bins)"))
    elif not np.isfinite(ggml.mel_filters).all():
        problems.append(Problem("error", "the mel filter bank holds non-finite values"))
    if len(ggml.vocab) > hp.n_vocab:
        problems.append(Problem(
            "error", f"the vocabulary lists {len(ggml.vocab)} tokens but n_vocab is {hp.n_vocab}; the token "
            "embedding has only n_vocab rows"))
    elif len(ggml.vocab) < N_TEXT_TOKENS:
        problems.append(Problem(
            "warning", f"the vocabulary lists only {len(ggml.vocab)} tokens; Whisper's text tokens alone are "
            f"{N_TEXT_TOKENS} (whisper.cpp names the missing ones [_extra_token_N])"))
    return problems


def _tensor_problems(ggml: GgmlFile) -> list[Problem]:
    if not ggml.tensors:
        return [Problem("error", "the file holds no tensors (whisper.cpp loads it with only a warning and "
                        "produces garbage)")]
    try:
        expected = expected_tensors(ggml.hparams)
    except FormatError:
        return []  # the unknown ftype is already reported; types cannot be checked without it
    problems = []
    for name in ggml.tensor_order:
        tensor = ggml.tensors[name]
        spec = expected.get(name)
        if spec is None:
            hint = (
                " (an untied output projection, which whisper.cpp cannot use)" if name.endswith("proj.weight") else ""
            )
            problems.append(Problem("error", f"unknown tensor {name}{hint}; whisper.cpp refuses the file", name))
            continue
        if tensor.shape != spec.shape:
            problems.append(
                Problem("error", f"tensor {name} has shape {list(tensor.shape)}, expected {list(spec.shape)}", name)
            )
        if tensor.ttype != spec.ttype:
            problems.append(Problem(
                "error", f"tensor {name} is {tensor.type_name}, expected {spec.ttype.label} in a "
                f"{ggml.dtype} file (whisper.cpp does not convert types)", name))
    missing = [name for name in expected if name not in ggml.tensors]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        problems.append(Problem("error", f"{len(missing)} tensor(s) missing: {shown}"))
    return problems


def _value_problems(ggml: GgmlFile) -> list[Problem]:
    problems = []
    truncated = {p.tensor for p in ggml.structure_problems if p.tensor}
    for name in ggml.tensor_order:
        tensor = ggml.tensors[name]
        if name in truncated or tensor.ttype not in GgmlType._value2member_map_:
            continue
        values = tensor.to_float32()
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        if bad:
            problems.append(Problem("error", f"tensor {name} holds {bad} non-finite value(s)", name))
    return problems


def _dtype_entry(dtype: str) -> tuple[int, GgmlType]:
    try:
        return DTYPES[dtype]
    except KeyError:
        raise FormatError(f"unknown GGML dtype {dtype!r}; expected one of {', '.join(DTYPES)}") from None


def _ftype_list() -> str:
    return ", ".join(f"{file_ftype(name)} ({name})" for name in DTYPES)
