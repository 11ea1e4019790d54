"""Export a Hugging Face Whisper model (or an adapter on one) to a whisper.cpp GGML file.

The file is written directly from the safetensors weights, tensor by tensor and large
tensors in blocks of rows (each block read, checked, converted and written before the next
is read, so memory stays near one block whatever the model's size), quantized by
:mod:`whisper_tune.formats.ggml_quants` (byte-identical to whisper-quantize),
under a temporary name that is renamed into place only once complete. Everything whisper.cpp
would misread is refused up front with a message that says what to do.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import itertools
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune import __version__
from whisper_tune.bulk_output import bulk_writer
from whisper_tune.errors import ExportError, FormatError
from whisper_tune.export.file_names import futo_name, identify, whisper_cpp_name
from whisper_tune.export.mel import mel_filters
from whisper_tune.export.tensor_names import ggml_name
from whisper_tune.export.vocab import load_special_tokens, load_vocab
from whisper_tune.fileio import atomic_open, atomic_write_json, read_json_object
from whisper_tune.formats.ggml import (
    DTYPES,
    F32_CPU_WARNING,
    GgmlType,
    GgmlWriter,
    Hparams,
    TensorSpec,
    encode_tensor,
    expected_tensors,
    file_ftype,
)
from whisper_tune.formats.ggml_quants import QK
from whisper_tune.formats.safetensors import (
    FLOAT_DTYPES,
    SafetensorsReader,
    has_safetensors,
    index_tensors,
    weight_files,
)
from whisper_tune.merge import merge_adapter
from whisper_tune.models.resolve import resolve_model
from whisper_tune.whisper_constants import (
    MEL_BINS,
    OUTPUT_PROJECTION,
    TOKEN_EMBEDDING,
    VOCAB_SIZES,
    tokenizer_mismatch_problem,
    untied_projection_problem,
)

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".json"
F16_MAX = float(np.finfo(np.float16).max)
#: Values read, checked and encoded per step of a large tensor.
_BLOCK_VALUES = 1 << 22
#: Worker threads reading and encoding blocks, and blocks in flight at once (memory: about
#: this many blocks of input plus their encodings).
_WORKERS = min(2, os.cpu_count() or 1)
_BLOCKS_IN_FLIGHT = 2 * _WORKERS


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_ggml` wrote. ``sidecar`` is ``path`` + ``.json`` with the same facts."""

    path: Path
    sidecar: Path
    dtype: str
    sha256: str
    size_bytes: int
    n_tensors: int
    bytes_per_type: dict[str, int]
    hparams: Hparams
    source: str
    adapter: str | None
    seconds: float


def export_ggml(
    model_spec: str | os.PathLike[str],
    dtype: str,
    out: str | os.PathLike[str] | None = None,
    *,
    adapter: str | os.PathLike[str] | None = None,
    whisper_cpp_dir: str | os.PathLike[str] | None = None,
    name: str | None = None,
    futo: bool = False,
    durable: bool = True,
) -> ExportResult:
    """Export ``model_spec`` (any spec the resolver accepts, or an adapter folder) as ``dtype``.

    Where it goes: ``out`` (a file, or an existing folder to put a named file in) or
    ``whisper_cpp_dir``/models/ under whisper.cpp's name (``ggml-<name>[-<dtype>].bin``);
    ``name`` replaces the derived model name and ``futo`` names the file as FUTO names its
    own (``tiny_en_acft_q8_0.bin``). ``adapter`` is merged into the model first; an adapter
    spec is merged into its own base. The data is written past the page cache where the
    file system allows (:func:`~whisper_tune.bulk_output.bulk_writer`); ``durable=False``
    skips the final fsync, which then saves little, and elsewhere leaves the data in the
    cache: an interrupted run still leaves no half file, but a power loss or OS crash right
    after the export could leave an incomplete one (see
    :func:`~whisper_tune.fileio.atomic_open`). Returns an :class:`ExportResult`; raises
    :class:`ExportError` (or ``ModelSourceError``) with what to change when the model
    cannot be represented faithfully.
    """
    started = time.perf_counter()
    if dtype not in DTYPES:
        raise ExportError(f"unknown `dtype` {dtype!r}; expected one of {', '.join(DTYPES)}")
    if (out is None) == (whisper_cpp_dir is None):
        raise ExportError("give exactly one of an output file (`out`) or a whisper.cpp folder (`whisper_cpp_dir`)")
    if name and futo:
        raise ExportError("`name` and `futo` both set a file name; give one of them")
    if dtype == "f32":
        log.warning(F32_CPU_WARNING)
    with _merged_model_dir(model_spec, adapter) as (model_dir, source, adapter_desc):
        config = _read_config(model_dir)
        hp = hparams_from_config(config, dtype, model_dir / "config.json")
        target = _output_path(out, whisper_cpp_dir, name, futo, config, dtype)
        digest, size, per_type, count = _write_ggml(model_dir, config, hp, dtype, target, durable=durable)
    result = ExportResult(
        target, target.with_name(target.name + SIDECAR_SUFFIX), dtype, digest, size, count, per_type, hp,
        source, adapter_desc, time.perf_counter() - started,
    )
    atomic_write_json(result.sidecar, _sidecar(result))
    log.info("wrote %s (%s, %.1f MB, %d tensors) in %.2f s", target, dtype, size / 1e6, count, result.seconds)
    return result


def hparams_from_config(config: dict[str, Any], dtype: str, where: Path | str = "config.json") -> Hparams:
    """The GGML header of a HF Whisper ``config`` for ``dtype``, refusing what whisper.cpp misreads."""

    def field(key: str) -> int:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ExportError(f"{where}: {key} is {value!r}; expected a positive integer (is this a Whisper config?)")
        return value

    vocab = field("vocab_size")
    if vocab not in VOCAB_SIZES:
        raise ExportError(
            f"{where}: vocab_size is {vocab}; whisper.cpp only knows {', '.join(map(str, VOCAB_SIZES))} "
            "(English-only, multilingual, large-v3) and derives every special-token id from it, so any "
            "other size would shift them all. Do not resize the token embedding when fine-tuning"
        )
    mels = field("num_mel_bins")
    if mels not in MEL_BINS:
        raise ExportError(f"{where}: num_mel_bins is {mels}; whisper.cpp supports 80 (or 128 for large-v3) only")
    return Hparams(
        n_vocab=vocab,
        n_audio_ctx=field("max_source_positions"),
        n_audio_state=field("d_model"),
        n_audio_head=field("encoder_attention_heads"),
        n_audio_layer=field("encoder_layers"),
        # max_target_positions, not max_length: a fine-tune's max_length (e.g. 225) is a
        # generation setting, and whisper.cpp sizes the positional table from this field.
        n_text_ctx=field("max_target_positions"),
        n_text_state=field("d_model"),
        n_text_head=field("decoder_attention_heads"),
        n_text_layer=field("decoder_layers"),
        n_mels=mels,
        ftype=file_ftype(dtype),
    )


def output_file_name(config: dict[str, Any], dtype: str, name: str | None = None, futo: bool = False) -> str:
    """The file name an export of a model with HF ``config`` gets without an explicit file."""
    identity = identify(config)
    if futo:
        return futo_name(identity, dtype)
    return whisper_cpp_name(name or identity.whisper_cpp_stem, dtype)


# --- model source ----------------------------------------------------------------------


@contextlib.contextmanager
def _merged_model_dir(
    model_spec: str | os.PathLike[str], adapter: str | os.PathLike[str] | None
) -> Iterator[tuple[Path, str, str | None]]:
    """The HF folder to read, merging an adapter into a temporary folder first if needed."""
    folder = _plain_hf_folder(model_spec)
    if folder is not None and adapter is None:
        yield folder, str(folder), None
        return

    resolved = resolve_model(str(model_spec))
    if adapter is None and resolved.adapter is None:
        yield resolved.path, resolved.describe(), None
        return

    if adapter is not None and resolved.adapter is not None:
        raise ExportError(
            f"{model_spec} is itself an adapter; give either an adapter as `model_spec` or `adapter`, not both"
        )
    adapter_dir = Path(adapter) if adapter is not None else Path(resolved.adapter)  # type: ignore[arg-type]
    base = resolved if adapter is not None else None
    with tempfile.TemporaryDirectory(prefix="whisper-tune-merge-") as scratch:
        merged = merge_adapter(adapter_dir, Path(scratch) / "merged", base=base)
        yield merged, (base or resolved.base or resolved).describe(), str(adapter_dir)


def _plain_hf_folder(model_spec: str | os.PathLike[str]) -> Path | None:
    """``model_spec`` itself when it is an HF folder with safetensors weights, else None.

    Such a folder needs no resolving (the resolver may rebuild or download a model, and
    merging an adapter loads torch, which is most of a small export's time and memory).
    """
    folder = Path(model_spec).expanduser()
    if not folder.is_dir() or (folder / "adapter_config.json").exists() or (folder / "model.bin").exists():
        return None
    return folder.resolve() if has_safetensors(folder) and (folder / "config.json").is_file() else None


def _read_config(model_dir: Path) -> dict[str, Any]:
    file = model_dir / "config.json"
    config = read_json_object(file, ExportError, "model config")
    if config.get("model_type") not in (None, "whisper"):
        raise ExportError(
            f"{file}: model_type is {config.get('model_type')!r}; only Whisper models export to whisper.cpp"
        )
    return config


def _output_path(
    out: str | os.PathLike[str] | None,
    whisper_cpp_dir: str | os.PathLike[str] | None,
    name: str | None,
    futo: bool,
    config: dict[str, Any],
    dtype: str,
) -> Path:
    if whisper_cpp_dir is not None:
        root = Path(whisper_cpp_dir)
        if not root.is_dir():
            raise ExportError(f"{root}: no such folder; `whisper_cpp_dir` takes a whisper.cpp checkout")
        return root / "models" / output_file_name(config, dtype, name, futo)
    target = Path(out)  # type: ignore[arg-type]
    if target.is_dir():
        return target / output_file_name(config, dtype, name, futo)
    if name or futo:
        raise ExportError(f"{target}: `name`/`futo` choose a file name; give `out` an existing folder for them")
    return target


# --- tensors ---------------------------------------------------------------------------


class _Weights:
    """Read-only access to a HF folder's safetensors weights (single file or shards), by rows.

    Each file is opened once and read with ``pread`` (:mod:`whisper_tune.formats.safetensors`):
    no mapping, so memory stays near the blocks in flight, and reads from several threads
    need no locking.
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._readers: list[SafetensorsReader] = []
        self._where: dict[str, SafetensorsReader] = {}
        try:
            for file in weight_files(model_dir):
                self._readers.append(SafetensorsReader(file))
            self._where = index_tensors(self._readers)
        except FormatError as exc:
            self.close()
            raise ExportError(str(exc)) from exc

    def __enter__(self) -> _Weights:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        for reader in self._readers:
            reader.close()

    def keys(self) -> list[str]:
        return list(self._where)

    def shape(self, key: str) -> tuple[int, ...]:
        return self._where[key].tensors[key].shape

    def get(self, key: str, start: int | None = None, stop: int | None = None) -> np.ndarray:
        """Rows ``start:stop`` of a tensor (all of it by default), as stored: float16 or
        float32 (bfloat16, which numpy lacks, as float32).

        Not widened to float32 here: the encoder converts, chunk by chunk where it quantizes.
        """
        reader = self._where[key]
        entry = reader.tensors[key]
        if entry.dtype not in FLOAT_DTYPES:
            raise ExportError(f"{reader.path}: tensor {key} is {entry.dtype}; expected floating-point weights")
        try:
            return reader.read_rows(key, start or 0, stop)
        except FormatError as exc:
            raise ExportError(str(exc)) from exc


def _plan(weights: _Weights, hp: Hparams, dtype: str) -> list[tuple[str, str, TensorSpec]]:
    """(ggml name, HF key, spec) for every tensor, in file order; refuses what cannot map."""
    expected = expected_tensors(hp)
    found: dict[str, str] = {}
    for key in weights.keys():  # noqa: SIM118 (_Weights is not a dict: keys() is its only listing)
        mapped = ggml_name(key)
        if mapped is None:
            continue
        if mapped not in expected:
            raise ExportError(
                f"{weights.model_dir}: tensor {key} ({mapped}) does not exist in whisper.cpp's Whisper "
                "(a key projection with a bias, or more layers than config.json says)"
            )
        found[mapped] = key
    missing = [name for name in expected if name not in found]
    if missing:
        raise ExportError(
            f"{weights.model_dir}: {len(missing)} tensor(s) missing from the weights, e.g. {missing[0]}; "
            "the checkpoint does not match its config.json"
        )
    if DTYPES[dtype][1].quantized:
        for name, spec in expected.items():
            if spec.ttype.quantized and spec.shape[-1] % QK:
                raise ExportError(
                    f"tensor {name} has rows of {spec.shape[-1]} values, not a multiple of {QK}, so it "
                    f"cannot be quantized to {dtype}; export as f16 or f32"
                )
    return [(name, found[name], spec) for name, spec in expected.items()]


def _check_output_projection(weights: _Weights, config: dict[str, Any]) -> None:
    """whisper.cpp computes logits with the token embedding: proj_out must be tied to it."""
    has_projection = OUTPUT_PROJECTION in weights.keys()  # noqa: SIM118 (_Weights has no __contains__)
    tied = has_projection and np.array_equal(weights.get(OUTPUT_PROJECTION), weights.get(TOKEN_EMBEDDING))
    problem = untied_projection_problem(config, has_projection, tied)
    if problem:
        raise ExportError(f"{weights.model_dir}: {problem}")


def _write_ggml(
    model_dir: Path, config: dict[str, Any], hp: Hparams, dtype: str, target: Path, *, durable: bool = True
) -> tuple[str, int, dict[str, int], int]:
    with _Weights(model_dir) as weights:
        _check_output_projection(weights, config)
        plan = _plan(weights, hp, dtype)
        vocab = load_vocab(model_dir)
        if len(vocab) > hp.n_vocab:
            raise ExportError(
                f"{model_dir}: the tokenizer has {len(vocab)} regular tokens, more than vocab_size {hp.n_vocab}"
            )
        mismatch = tokenizer_mismatch_problem(hp.n_vocab, load_special_tokens(model_dir))
        if mismatch:
            raise ExportError(f"{model_dir}: {mismatch}")
        blocks = [_row_blocks(weights, key, name, spec) for name, key, spec in plan]
        per_type: dict[str, int] = {}
        digest = hashlib.sha256()
        with atomic_open(target, "wb", durable=durable) as handle, \
                bulk_writer(handle, durable=durable, digest=digest) as sink, \
                _progress(len(plan), target.name) as advance, _parallel_in_order(_WORKERS, _BLOCKS_IN_FLIGHT) as run:
            writer = GgmlWriter(sink)  # type: ignore[arg-type]
            writer.write_header(hp, mel_filters(hp.n_mels), vocab)
            encoded = run(functools.partial(_encoded_block, weights), itertools.chain.from_iterable(blocks))
            for (name, _, spec), tensor_blocks in zip(plan, blocks, strict=True):
                parts = itertools.islice(encoded, len(tensor_blocks))
                written = writer.write_encoded_tensor(name, spec.ttype, spec.shape, parts)
                per_type[spec.ttype.label] = per_type.get(spec.ttype.label, 0) + written
                advance()
    return digest.hexdigest(), writer.bytes_written, per_type, len(plan)


@dataclass(frozen=True)
class _Block:
    """Rows ``start:stop`` of HF tensor ``key``, written as ``name`` of ``spec``."""

    key: str
    name: str
    spec: TensorSpec
    start: int
    stop: int


def _row_blocks(weights: _Weights, key: str, name: str, spec: TensorSpec) -> list[_Block]:
    """The tensor in blocks of whole rows (about 4M values each): memory stays near a few
    blocks even for a large token embedding. Refuses a stored shape that does not fit."""
    stored = weights.shape(key)
    if int(np.prod(stored)) != int(np.prod(spec.shape)) or stored[0] != spec.shape[0]:
        raise ExportError(
            f"{weights.model_dir}: {key} has shape {list(stored)}, expected {list(spec.shape)} for {name}"
        )
    step = max(1, _BLOCK_VALUES // max(1, int(np.prod(spec.shape[1:]))))
    return [_Block(key, name, spec, start, min(start + step, spec.shape[0])) for start in range(0, spec.shape[0], step)]


def _encoded_block(weights: _Weights, block: _Block) -> np.ndarray:
    """Read, check and encode one block (runs in a worker thread)."""
    values = weights.get(block.key, block.start, block.stop).reshape((-1, *block.spec.shape[1:]))
    low, high = _extremes(values)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ExportError(
            f"{weights.model_dir}: {block.key} holds NaN or infinite values; the training diverged. "
            "Export an earlier checkpoint or train with a lower learning rate"
        )
    if block.spec.ttype is GgmlType.F16 and values.dtype != np.float16 and max(-low, high) > F16_MAX:
        raise ExportError(
            f"{weights.model_dir}: {block.key} holds values beyond float16's range (|x| > {F16_MAX:g}), which f16 "
            "would store as infinity; export as f32 or a quantized type"
        )
    return encode_tensor(values, block.spec.ttype)


def _extremes(values: np.ndarray) -> tuple[float, float]:
    """Smallest and largest value; NaN if any value is NaN. float32: min/max (NaN propagates;
    fast, no temporary array); float16, whose reductions numpy runs slowly in software: inf
    stands in for any non-finite value."""
    if values.dtype == np.float16:
        if not np.isfinite(values).all():
            return float("nan"), float("nan")
        return 0.0, 0.0  # float16 values always fit f16
    return float(values.min()), float(values.max())


@contextlib.contextmanager
def _parallel_in_order(
    workers: int, ahead: int
) -> Iterator[Callable[[Callable[[Any], Any], Iterable[Any]], Iterator[Any]]]:
    """``run(fn, items)``: ``fn`` over ``items`` in ``workers`` threads, results in input order,
    at most ``ahead`` items in flight (which bounds memory). numpy's conversions and
    quantizers and ``pread`` release the GIL, so the caller's writing and hashing overlap the
    workers' reading and encoding; a worker's exception is raised where its result is taken."""
    with ThreadPoolExecutor(workers, thread_name_prefix="whisper-tune-export") as executor:

        def run(fn: Callable[[Any], Any], items: Iterable[Any]) -> Iterator[Any]:
            source = iter(items)
            pending: collections.deque[Future[Any]] = collections.deque(
                executor.submit(fn, item) for item in itertools.islice(source, ahead))
            try:
                while pending:
                    result = pending.popleft().result()
                    for item in itertools.islice(source, 1):
                        pending.append(executor.submit(fn, item))
                    yield result
            finally:
                for future in pending:
                    future.cancel()

        yield run


@contextlib.contextmanager
def _progress(total: int, label: str) -> Iterator[Any]:
    """A rich progress bar on an interactive terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task(f"writing {label}", total=total)
        yield lambda: progress.advance(task)


def _sidecar(result: ExportResult) -> dict[str, Any]:
    return {
        "file": result.path.name,
        "format": "whisper.cpp GGML",
        "dtype": result.dtype,
        "sha256": result.sha256,
        "size_bytes": result.size_bytes,
        "n_tensors": result.n_tensors,
        "bytes_per_type": result.bytes_per_type,
        "hparams": {key: getattr(result.hparams, key) for key in result.hparams.__dataclass_fields__},
        "source_model": result.source,
        "adapter": result.adapter,
        "whisper_tune_version": __version__,
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "export_seconds": round(result.seconds, 3),
    }
