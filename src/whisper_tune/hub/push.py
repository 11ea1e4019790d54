"""``push_model``: a finished model (or run folder) to a Hugging Face Hub repo, private by default.

What goes up, in one commit: the weights (safetensors), ``config.json``, a
``generation_config.json`` that carries the language and task (multilingual models) and no
``forced_decoder_ids``, so current transformers reloads it without the forced-decoder-ids
error; the tokenizer and preprocessor files (other people's converters need them); the GGML
files exported from it; and a model card written from the run's own reports
(:mod:`whisper_tune.hub.card`). An adapter is merged into its base first.

The token comes from the ``token`` argument, ``HF_TOKEN`` or huggingface_hub's login; it is
handed to huggingface_hub only and never written to a file, a log or a message. A push is
one commit: one that is interrupted leaves the repo as it was, and running it again
completes it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whisper_tune.errors import CloudError, DataError, WhisperTuneError
from whisper_tune.extras import require
from whisper_tune.fileio import atomic_write_json, atomic_write_text, describe_size
from whisper_tune.hub.card import gather_facts, model_card
from whisper_tune.merge import TOKENIZER_FILES, merge_adapter

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.jsonl"
#: Sub-folders of a run folder holding a model, in the order they are preferred.
RUN_MODEL_DIRS = ("merged", "best", "last")
GGML_MAGIC = b"lmgg"
#: Generation settings that make current transformers refuse language/task (the old mechanism).
OBSOLETE_GENERATION_KEYS = ("forced_decoder_ids",)
CARD_NAME = "README.md"


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    url: str
    files: list[str]
    private: bool


def push_model(folder: str | os.PathLike[str], repo_id: str, *, private: bool = True, token: str | None = None,
               ggml_files: Sequence[str | os.PathLike[str]] = (), language: str | None = None) -> PushResult:
    """Push the model in ``folder`` (a model folder, an adapter or a run folder) to ``repo_id``."""
    hub = require("huggingface_hub", "pushing to the Hugging Face Hub")
    model_dir, run_dir = locate_model(Path(folder))
    secret = resolve_token(token, hub)
    ggml = _ggml_files(model_dir, run_dir, [Path(p) for p in ggml_files])
    with tempfile.TemporaryDirectory(prefix="whisper-tune-push-") as temporary:
        work = Path(temporary)
        if (model_dir / "adapter_config.json").is_file():
            log.info("merging the adapter %s into its base before pushing", model_dir)
            model_dir = merge_adapter(model_dir, work / "merged")
        files = stage_files(model_dir, run_dir, work / "upload", repo_id, ggml, language)
        api = hub.HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=secret)
        with hub_errors(secret, repo_id):
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            log.info("pushing %d files (%s) to %s", len(files), _size(work / "upload"), repo_id)
            commit = api.upload_folder(repo_id=repo_id, folder_path=work / "upload", repo_type="model",
                                       commit_message=f"whisper-tune: {model_dir.name}")
    url = str(getattr(commit, "repo_url", "") or f"{api.endpoint}/{repo_id}")
    return PushResult(repo_id, url, files, private)


def locate_model(folder: Path) -> tuple[Path, Path | None]:
    """(model folder, run folder or None) for a model, adapter or run folder."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder; give a model folder (runs/x/last) or a run folder (runs/x)")
    if _is_model(folder) or (folder / "adapter_config.json").is_file():
        run_dir = folder if (folder / METRICS_FILE).is_file() else (
            folder.parent if (folder.parent / METRICS_FILE).is_file() else None)
        return folder, run_dir
    if (folder / METRICS_FILE).is_file():
        for name in RUN_MODEL_DIRS:
            if _is_model(folder / name) or (folder / name / "adapter_config.json").is_file():
                return folder / name, folder
    raise DataError(f"{folder}: neither a model folder (config.json + model.safetensors), an adapter folder, "
                    f"nor a run folder with {'/, '.join(RUN_MODEL_DIRS)}/")


def _is_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(folder.glob("*.safetensors"))


def resolve_token(token: str | None, hub: Any) -> str:
    found = token or os.environ.get("HF_TOKEN") or hub.get_token()
    if not found:
        raise CloudError("no Hugging Face token: set HF_TOKEN, or run `hf auth login` (a write token)")
    return str(found)


def stage_files(model_dir: Path, run_dir: Path | None, target: Path, repo_id: str, ggml: list[Path],
                language: str | None) -> list[str]:
    """Copy or write every file of the push into ``target``; returns their names."""
    target.mkdir(parents=True)
    facts = gather_facts(repo_id, model_dir, run_dir, ggml)
    weights = sorted(p.name for p in model_dir.iterdir()
                     if p.name.endswith((".safetensors", ".safetensors.index.json")))
    for name in (*weights, *(n for n in TOKENIZER_FILES if (model_dir / n).is_file())):
        shutil.copyfile(model_dir / name, target / name)
    _write_config(model_dir / "config.json", target / "config.json")
    if (model_dir / "generation_config.json").is_file():
        _write_generation_config(model_dir / "generation_config.json", target / "generation_config.json",
                                 language or facts.language, str(facts.run_config.get("task") or "transcribe"))
    for file in ggml:
        shutil.copyfile(file, target / file.name)
    atomic_write_text(target / CARD_NAME, model_card(facts))
    return sorted(p.name for p in target.iterdir())


def _write_config(source: Path, target: Path) -> None:
    """config.json as is, unless it still holds the obsolete generation keys."""
    data = json.loads(source.read_text(encoding="utf-8"))
    if any(key in data for key in OBSOLETE_GENERATION_KEYS):
        atomic_write_json(target, {k: v for k, v in data.items() if k not in OBSOLETE_GENERATION_KEYS})
    else:
        shutil.copyfile(source, target)


def _write_generation_config(source: Path, target: Path, language: str | None, task: str) -> None:
    data = {k: v for k, v in json.loads(source.read_text(encoding="utf-8")).items()
            if k not in OBSOLETE_GENERATION_KEYS}
    if data.get("is_multilingual") and language:
        data["language"] = language
        data["task"] = task
    atomic_write_json(target, data)


def _ggml_files(model_dir: Path, run_dir: Path | None, given: list[Path]) -> list[Path]:
    """Given GGML files (checked) plus those exported into the model or run folder."""
    for file in given:
        if not file.is_file() or file.open("rb").read(4) != GGML_MAGIC:
            raise DataError(f"{file}: not a whisper.cpp GGML file (expected the magic bytes lmgg)")
    found = list(given)
    for folder in {model_dir, *( [run_dir] if run_dir else [])}:
        for file in sorted(folder.glob("*.bin")):
            with open(file, "rb") as handle:
                if handle.read(4) == GGML_MAGIC and file.name not in {f.name for f in found}:
                    found.append(file)
    return found


def _size(folder: Path) -> str:
    return describe_size(sum(p.stat().st_size for p in folder.iterdir()))


@contextlib.contextmanager
def hub_errors(token: str, repo_id: str) -> Iterator[None]:
    """huggingface_hub's failures as one line, with the token (should it appear) masked."""
    try:
        yield
    except WhisperTuneError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        text = text.replace(token, "***")
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            hint = "the token was refused; use a token with write access to " + repo_id.split("/")[0]
        elif status is None:
            hint = "check the network connection (and HF_ENDPOINT, if set)"
        else:
            hint = f"the Hub answered HTTP {status}"
        raise CloudError(f"pushing to {repo_id} failed: {type(exc).__name__}: {text}; {hint}") from None
