"""Merge a PEFT adapter (LoRA, DoRA, converted PiSSA) into its base: a complete HF folder.

The merged folder holds float32 weights (the merge is computed in float32 and not rounded
again), config.json with a ``whisper_tune.merged_adapter`` note, and the base's tokenizer
and feature-extractor files, so it loads, decodes, trains and exports like any model folder.

PiSSA, OLoRA and CorDA initialise the adapter from the base weights and *subtract* that part
from the base. Saved as is, such an adapter is only valid on that changed ("residual") base,
which the adapter folder does not contain. PEFT can convert it into a plain LoRA on the
original base when saving (``save_pretrained(..., path_initial_model_for_weight_conversion=
<the adapter saved right after initialisation>)``); that converted adapter merges normally.
An unconverted one is refused with that advice, because merging it into the original base
gives a silently wrong model.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from whisper_tune.errors import ModelSourceError
from whisper_tune.fileio import atomic_directory
from whisper_tune.models.adapter_config import check_adapter_base
from whisper_tune.models.loading import load_model, merge_adapter_into
from whisper_tune.models.resolve import resolve_model

log = logging.getLogger(__name__)

#: Files copied from the base folder: save_pretrained writes none of them (transformers 5).
TOKENIZER_FILES: tuple[str, ...] = (
    "vocab.json", "merges.txt", "added_tokens.json", "normalizer.json", "tokenizer.json",
    "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
)
GENERATION_CONFIG = "generation_config.json"


def merge_adapter(
    adapter_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    base: Any = None,
) -> Path:
    """Merge the adapter in ``adapter_dir`` into its base and write a full HF folder to ``out_dir``.

    ``base`` (a spec or ``ResolvedModel``) replaces the base named in adapter_config.json.
    Written atomically: ``out_dir`` appears only once complete. Returns ``out_dir``.
    """
    adapter = Path(adapter_dir)
    if not (adapter / "adapter_config.json").is_file():
        raise ModelSourceError(f"{adapter}: not a PEFT adapter folder (no adapter_config.json)")
    check_adapter_base(adapter)
    resolved = resolve_model(base) if base is not None else resolve_model(str(adapter))
    base_resolved = resolved.base if resolved.adapter is not None and resolved.base is not None else resolved
    log.info("merging %s into %s", adapter, base_resolved.describe())
    model = merge_adapter_into(load_model(base_resolved), adapter)
    if (adapter / GENERATION_CONFIG).is_file():  # written by training: the trained language and task
        from transformers import GenerationConfig

        model.generation_config = GenerationConfig.from_pretrained(adapter)
    marker = dict(getattr(model.config, "whisper_tune", None) or {})
    marker["merged_adapter"] = str(adapter.resolve())
    model.config.whisper_tune = marker
    target = Path(out_dir)
    with atomic_directory(target) as staging:
        model.save_pretrained(staging, safe_serialization=True)
        _copy_tokenizer_files(base_resolved.path, staging)
    return target


def _copy_tokenizer_files(base_dir: Path, target: Path) -> None:
    copied = [name for name in TOKENIZER_FILES if (base_dir / name).is_file()]
    for name in copied:
        shutil.copyfile(base_dir / name, target / name)
    if "vocab.json" not in copied and "tokenizer.json" not in copied:
        raise ModelSourceError(
            f"{base_dir}: the base model has no tokenizer files (vocab.json/tokenizer.json) to copy into "
            "the merged model; add them to the base folder"
        )
