"""``check_model``: is this Hugging Face Whisper folder ready to convert to whisper.cpp?

Catches, before a conversion, what makes whisper.cpp's file fail to load or decode wrongly:
config fields missing or inconsistent with the weights, a vocabulary size whisper.cpp does
not know (it derives every special id from it), an untied output projection (whisper.cpp
has none), missing tokenizer files (vocab.json, merges.txt, added_tokens.json: what
whisper.cpp's converter and older loaders read), and a generation config that cannot decode
(no no-timestamps id, no languages for a multilingual model, no max_length).

``fix=True`` repairs only what is derivable without guessing: tokenizer files written from
tokenizer.json, max_length from max_target_positions, a missing preprocessor_config.json
from num_mel_bins. It lists what it changed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from safetensors import safe_open

from whisper_tune.errors import ExportError, FormatError, ModelSourceError
from whisper_tune.export.vocab import load_special_tokens
from whisper_tune.fileio import atomic_write_json, atomic_write_text
from whisper_tune.formats.safetensors import SINGLE_FILE, has_safetensors, tensor_locations
from whisper_tune.models import resolve_model
from whisper_tune.models.hf_folder import write_tokenizer_files
from whisper_tune.whisper_constants import (
    ENGLISH_ONLY_VOCAB,
    N_TEXT_CTX,
    N_TEXT_TOKENS,
    OUTPUT_PROJECTION,
    TOKEN_EMBEDDING,
    VOCAB_SIZES,
    is_multilingual,
    n_languages,
    tokenizer_mismatch_problem,
    untied_projection_problem,
)

log = logging.getLogger(__name__)

REQUIRED_INT_FIELDS = ("vocab_size", "num_mel_bins", "d_model", "encoder_layers", "decoder_layers",
                       "encoder_attention_heads", "decoder_attention_heads", "max_source_positions",
                       "max_target_positions")
REQUIRED_TOKENIZER_FILES = ("vocab.json", "merges.txt", "added_tokens.json")


@dataclass(frozen=True)
class Finding:
    """One problem: ``error`` blocks a faithful conversion, ``warning`` deserves a look."""

    level: Literal["error", "warning"]
    where: str  # file and field, e.g. "config.json: vocab_size"
    message: str
    fixable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "where": self.where, "message": self.message, "fixable": self.fixable}


@dataclass
class CheckReport:
    spec: str
    folder: Path
    findings: list[Finding] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(f.level == "error" for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "folder": str(self.folder), "ok": self.ok, "checked": self.checked,
                "findings": [f.to_dict() for f in self.findings], "fixed": self.fixed}


def check_model(spec: str | os.PathLike[str], fix: bool = False) -> CheckReport:
    """Check (and with ``fix`` repair) the HF folder a model spec resolves to.

    For an adapter the base model's folder is checked (the export merges into it).
    Raises ModelSourceError only when the spec does not resolve to a folder at all.
    """
    folder = _model_folder(spec)
    report = CheckReport(str(spec), folder)
    if fix:
        report.fixed += _apply_fixes(folder)
    config = _read_json(folder / "config.json", report, required=True)
    if config is not None:
        _check_config(config, report)
        _check_weights(folder, config, report)
        _check_preprocessor(folder, config, report)
        _check_generation(folder, config, report)
    _check_tokenizer(folder, report)
    if config is not None and isinstance(config.get("vocab_size"), int):
        _check_tokenizer_fits(folder, config["vocab_size"], report)
    return report


def _model_folder(spec: str | os.PathLike[str]) -> Path:
    """A folder with config.json is checked as is (even without weights: that is a finding)."""
    path = Path(spec).expanduser()
    if path.is_dir() and (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
        return path.resolve()

    return resolve_model(str(spec)).path


# --- checks ------------------------------------------------------------------------------


def _check_config(config: dict[str, Any], report: CheckReport) -> None:
    report.checked.append("config fields")
    for key in REQUIRED_INT_FIELDS:
        value = config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            report.findings.append(
                Finding("error", f"config.json: {key}", f"is {value!r}; expected a positive integer")
            )
    vocab = config.get("vocab_size")
    if isinstance(vocab, int) and vocab not in VOCAB_SIZES:
        report.findings.append(Finding(
            "error", "config.json: vocab_size",
            f"is {vocab}; whisper.cpp derives its special-token ids from the vocabulary size and knows only "
            f"{', '.join(map(str, VOCAB_SIZES))}; do not resize the token embedding when fine-tuning"))
    for heads_key in ("encoder_attention_heads", "decoder_attention_heads"):
        heads, width = config.get(heads_key), config.get("d_model")
        if isinstance(heads, int) and isinstance(width, int) and heads > 0 and width % heads:
            report.findings.append(Finding("error", f"config.json: {heads_key}",
                                           f"d_model {width} is not divisible by {heads} heads"))
    if config.get("max_target_positions") not in (None, N_TEXT_CTX):
        report.findings.append(Finding("warning", "config.json: max_target_positions",
                                       f"is {config.get('max_target_positions')}; every OpenAI Whisper model has "
                                       f"{N_TEXT_CTX}"))


def _check_weights(folder: Path, config: dict[str, Any], report: CheckReport) -> None:
    """Shapes against the config, and proj_out tied to the token embedding."""
    shapes = _weight_shapes(folder, report)
    if shapes is None:
        return
    report.checked.append("weight shapes")
    width = config.get("d_model")
    expected = {
        TOKEN_EMBEDDING: (config.get("vocab_size"), width),
        "model.decoder.embed_positions.weight": (config.get("max_target_positions"), width),
        "model.encoder.embed_positions.weight": (config.get("max_source_positions"), width),
        "model.encoder.layer_norm.weight": (width,),
        "model.decoder.layer_norm.weight": (width,),
        "model.encoder.conv1.weight": (width, config.get("num_mel_bins"), 3),
    }
    for name, shape in expected.items():
        if name not in shapes:
            report.findings.append(Finding("error", f"weights: {name}", "is missing; is this a Whisper model?"))
        elif tuple(shapes[name]) != shape:
            report.findings.append(Finding("error", f"weights: {name}",
                                           f"has shape {list(shapes[name])}, but config.json implies {list(shape)}"))
    enc, dec = shapes.get("model.encoder.layer_norm.weight"), shapes.get("model.decoder.layer_norm.weight")
    if enc and dec and enc != dec:
        report.findings.append(
            Finding(
                "error",
                "weights",
                f"encoder width {enc[0]} differs from decoder width {dec[0]}; "
                "whisper.cpp's format has one width per stack but expects them equal",
            )
        )
    _check_projection(folder, config, shapes, report)


def _check_projection(
    folder: Path, config: dict[str, Any], shapes: dict[str, tuple[int, ...]], report: CheckReport
) -> None:
    report.checked.append("output projection")
    has_projection = OUTPUT_PROJECTION in shapes
    tied = False
    if has_projection:
        import torch

        proj, embed = _tensor(folder, OUTPUT_PROJECTION), _tensor(folder, TOKEN_EMBEDDING)
        tied = proj is not None and embed is not None and proj.shape == embed.shape and bool(torch.equal(proj, embed))
    problem = untied_projection_problem(config, has_projection, tied)
    if problem:
        where = f"weights: {OUTPUT_PROJECTION}" if has_projection else "config.json: tie_word_embeddings"
        report.findings.append(Finding("error", where, problem))


def _check_preprocessor(folder: Path, config: dict[str, Any], report: CheckReport) -> None:
    pre = _read_json(folder / "preprocessor_config.json", report, required=False)
    report.checked.append("feature extractor")
    if pre is None:
        report.findings.append(
            Finding("error", "preprocessor_config.json", "is missing (the feature extractor settings)", fixable=True)
        )
        return
    if pre.get("feature_size") != config.get("num_mel_bins"):
        report.findings.append(
            Finding(
                "error",
                "preprocessor_config.json: feature_size",
                f"is {pre.get('feature_size')!r} but config.json num_mel_bins is "
                f"{config.get('num_mel_bins')!r}; they must match",
            )
        )


def _check_generation(folder: Path, config: dict[str, Any], report: CheckReport) -> None:
    gen = _read_json(folder / "generation_config.json", report, required=False)
    report.checked.append("generation config")
    if gen is None:
        report.findings.append(
            Finding("error", "generation_config.json", "is missing; decoding needs its special token ids")
        )
        return
    for key in ("no_timestamps_token_id", "decoder_start_token_id", "eos_token_id"):
        if not isinstance(gen.get(key), int):
            report.findings.append(
                Finding("error", f"generation_config.json: {key}", f"is {gen.get(key)!r}; expected a token id")
            )
    if not isinstance(gen.get("max_length"), int):
        report.findings.append(Finding("error", "generation_config.json: max_length", "is missing; generate() needs it",
                                       fixable=True))
    vocab = config.get("vocab_size")
    if isinstance(vocab, int) and is_multilingual(vocab):
        languages = n_languages(vocab)
        lang_to_id, task_to_id = gen.get("lang_to_id") or {}, gen.get("task_to_id") or {}
        if len(lang_to_id) != languages:
            report.findings.append(Finding(
                "error", "generation_config.json: lang_to_id",
                f"lists {len(lang_to_id)} languages; a multilingual model with vocab_size {vocab} has {languages}"))
        if set(task_to_id) != {"transcribe", "translate"}:
            report.findings.append(Finding("error", "generation_config.json: task_to_id",
                                           f"is {task_to_id!r}; expected transcribe and translate ids"))
        if gen.get("is_multilingual") is False:
            report.findings.append(Finding("warning", "generation_config.json: is_multilingual",
                                           "is false for a multilingual vocabulary"))
    elif gen.get("is_multilingual"):
        report.findings.append(Finding("warning", "generation_config.json: is_multilingual",
                                       f"is true for an English-only vocabulary ({ENGLISH_ONLY_VOCAB})"))


def _check_tokenizer(folder: Path, report: CheckReport) -> None:
    report.checked.append("tokenizer files")
    has_fast = (folder / "tokenizer.json").is_file()
    for name in REQUIRED_TOKENIZER_FILES:
        if not (folder / name).is_file():
            how = "check with `fix` writes it from tokenizer.json" if has_fast else "copy it from the base model"
            report.findings.append(Finding("error", name, f"is missing ({how})", fixable=has_fast))
    vocab = _read_json(folder / "vocab.json", report, required=False) if (folder / "vocab.json").is_file() else None
    if vocab is not None and len(vocab) != N_TEXT_TOKENS:
        report.findings.append(Finding("warning", "vocab.json",
                                       f"has {len(vocab)} tokens; Whisper's text vocabulary has {N_TEXT_TOKENS}"))


def _check_tokenizer_fits(folder: Path, vocab_size: int, report: CheckReport) -> None:
    """The tokenizer's special ids against the ones the embedding size implies (whisper.cpp's)."""
    report.checked.append("tokenizer against vocabulary size")
    try:
        problem = tokenizer_mismatch_problem(vocab_size, load_special_tokens(folder))
    except ExportError as exc:
        report.findings.append(Finding("error", "tokenizer", str(exc)))
        return
    if problem:
        report.findings.append(Finding("error", "tokenizer", problem))


# --- fixes -------------------------------------------------------------------------------


def _apply_fixes(folder: Path) -> list[str]:
    changed: list[str] = []
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    missing = [n for n in REQUIRED_TOKENIZER_FILES if not (folder / n).is_file()]
    if missing and (folder / "tokenizer.json").is_file() and isinstance(config.get("vocab_size"), int):
        changed += _write_missing_tokenizer_files(folder, missing, int(config["vocab_size"]))
    gen_path = folder / "generation_config.json"
    if gen_path.is_file() and isinstance(config.get("max_target_positions"), int):
        gen = json.loads(gen_path.read_text(encoding="utf-8"))
        if not isinstance(gen.get("max_length"), int):
            gen["max_length"] = config["max_target_positions"]
            atomic_write_json(gen_path, gen)
            changed.append(f"generation_config.json: set max_length to {gen['max_length']} (max_target_positions)")
    if not (folder / "preprocessor_config.json").is_file() and isinstance(config.get("num_mel_bins"), int):
        from transformers import WhisperFeatureExtractor

        extractor = WhisperFeatureExtractor(feature_size=config["num_mel_bins"])
        atomic_write_text(folder / "preprocessor_config.json", extractor.to_json_string())
        changed.append(f"preprocessor_config.json: written for {config['num_mel_bins']} mel bins")
    for line in changed:
        log.info("fixed %s", line)
    return changed


def _write_missing_tokenizer_files(folder: Path, missing: list[str], vocab_size: int) -> list[str]:
    """Write only the missing files (the others may be hand-edited; leave them alone)."""
    tokenizer_json = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            write_tokenizer_files(Path(tmp), tokenizer_json, vocab_size)
        except ModelSourceError as exc:
            log.warning("cannot derive tokenizer files: %s", exc)
            return []
        for name in missing:
            atomic_write_text(folder / name, (Path(tmp) / name).read_text(encoding="utf-8"))
    return [f"{name}: written from tokenizer.json" for name in missing]


# --- helpers -----------------------------------------------------------------------------


def _read_json(path: Path, report: CheckReport, required: bool) -> dict[str, Any] | None:
    if not path.is_file():
        if required:
            report.findings.append(Finding("error", path.name, "is missing"))
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.findings.append(Finding("error", path.name, f"is not readable JSON ({exc})"))
        return None
    if not isinstance(data, dict):
        report.findings.append(Finding("error", path.name, "does not hold a JSON object"))
        return None
    return data


def _weight_shapes(folder: Path, report: CheckReport) -> dict[str, tuple[int, ...]] | None:
    if not has_safetensors(folder):
        report.findings.append(Finding("error", SINGLE_FILE,
                                       "is missing (only safetensors weights are checked and exported)"))
        return None
    try:
        locations = tensor_locations(folder)
    except FormatError as exc:
        report.findings.append(Finding("error", "weights", str(exc)))
        return None
    shapes: dict[str, tuple[int, ...]] = {}
    for file in sorted(set(locations.values())):
        with safe_open(str(file), framework="numpy") as handle:
            for key in handle.keys():  # noqa: SIM118 (a safetensors handle is not iterable)
                shapes[key] = tuple(handle.get_slice(key).get_shape())
    return shapes


def _tensor(folder: Path, name: str) -> Any:
    """A torch tensor (torch reads bf16, numpy does not), or None."""
    file = tensor_locations(folder).get(name)
    if file is None:
        return None
    with safe_open(str(file), framework="pt") as handle:
        return handle.get_tensor(name)
