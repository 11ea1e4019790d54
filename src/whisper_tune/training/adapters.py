"""The fine-tuning methods behind one contract: lora, dora, pissa and full.

``apply_method(model, method, lora, work_dir)`` returns an :class:`Adapted` whose ``model``
is what trains (a ``PeftModel`` or the Whisper model itself) and whose trainable parameters
are exactly the method's; ``save_trained(adapted, out_dir, base_spec, base_dir)`` writes what
:func:`whisper_tune.models.load_model` loads back into the trained model:

* lora/dora: a PEFT adapter whose ``adapter_config.json`` names the user's base spec
  (``embedded:tiny.en`` or an absolute folder), never a cache path;
* pissa: the same, converted to a plain LoRA on the ORIGINAL base (PiSSA subtracts the
  principal components from the base weights; PEFT converts against the adapter saved right
  after initialisation, kept in ``work_dir/pissa_init``), so it merges like LoRA;
* full: a complete HF folder (weights, generation config, tokenizer and feature files).
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from whisper_tune.errors import ConfigError
from whisper_tune.fileio import atomic_directory, atomic_write_json
from whisper_tune.merge import TOKENIZER_FILES
from whisper_tune.training.config import LoraConfig

log = logging.getLogger(__name__)

PISSA_INIT_DIR = "pissa_init"


@dataclass
class Adapted:
    """A model prepared for one method."""

    # PeftModel for adapters, the Whisper model for full (Any: both are used through methods
    # reached by name, such as save_pretrained, which torch types as Tensor | Module)
    model: Any
    method: str
    initial_adapter: Path | None = None  # pissa: the adapter right after initialisation

    @property
    def whisper(self) -> nn.Module:
        """The WhisperForConditionalGeneration inside (adapter layers, if any, active)."""
        get_base = getattr(self.model, "get_base_model", None)
        return get_base() if callable(get_base) else self.model


def target_pattern(target_modules: list[str]) -> str:
    """A PEFT full-match regex for ``q_proj``-style names, optionally ``encoder.``/``decoder.``-prefixed."""
    alternatives = []
    for name in target_modules:
        side, _, short = name.rpartition(".")
        sides = side if side else "encoder|decoder"
        alternatives.append(rf"model\.(?:{sides})\.layers\.\d+\.(?:[a-z_]+\.)?{short}")
    return rf"(?:.*\.)?(?:{'|'.join(alternatives)})"


def apply_method(model: nn.Module, method: str, lora: LoraConfig, work_dir: Path | None = None,
                 save_initial: bool = True) -> Adapted:
    """Prepare ``model`` (a WhisperForConditionalGeneration) for ``method``.

    ``work_dir`` (pissa only) receives the initial adapter needed for conversion when saving;
    ``save_initial=False`` skips writing it (other ranks of a multi-process run).
    """
    if method == "full":
        for name, param in model.named_parameters():
            # Whisper's encoder positions are fixed sinusoids; keep them so.
            param.requires_grad_("encoder.embed_positions" not in name)
        return Adapted(model, method)
    if method not in ("lora", "dora", "pissa"):
        raise ConfigError(f"method={method!r} is not one of lora, dora, pissa, full")
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_config = PeftLoraConfig(
        # peft annotates lora_alpha as int, but only divides it by r: a fractional alpha is valid.
        r=lora.rank, lora_alpha=lora.alpha, lora_dropout=lora.dropout,  # type: ignore[arg-type]
        target_modules=target_pattern(lora.target_modules), bias="none",
        use_dora=method == "dora", init_lora_weights="pissa" if method == "pissa" else True,
    )
    with _single_thread(method == "pissa"):
        peft_model = get_peft_model(model, peft_config)
    adapted = Adapted(peft_model, method)
    if method == "pissa":
        if work_dir is None:
            raise ConfigError("method=pissa needs a work folder for its initial adapter (the output_dir)")
        adapted.initial_adapter = Path(work_dir) / PISSA_INIT_DIR
        if save_initial:
            with atomic_directory(adapted.initial_adapter) as staging:
                peft_model.save_pretrained(str(staging))
    return adapted


@contextlib.contextmanager
def _single_thread(enabled: bool) -> Iterator[None]:
    """PiSSA's SVDs on one thread: measured here, a 384x384 SVD took 0.05 s on one thread and
    10 s on two busy cores (OpenMP threads spinning against each other)."""
    import torch

    threads = torch.get_num_threads()
    if enabled:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def trainable_names(adapted: Adapted) -> list[str]:
    return [name for name, p in adapted.model.named_parameters() if p.requires_grad]


def save_trained(adapted: Adapted, out_dir: Path, base_spec: str, base_dir: Path) -> Path:
    """Write the trained model into the (new, empty) folder ``out_dir``; see the module docstring."""
    out_dir = Path(out_dir)
    if adapted.method == "full":
        adapted.model.save_pretrained(out_dir, safe_serialization=True)
        _copy_tokenizer_files(base_dir, out_dir)
        return out_dir
    kwargs = {}
    if adapted.method == "pissa":
        kwargs["path_initial_model_for_weight_conversion"] = str(adapted.initial_adapter)
    flags = {name: p.requires_grad for name, p in adapted.model.named_parameters()}
    adapted.model.save_pretrained(str(out_dir), **kwargs)
    # PEFT saves no generation config; merge_adapter takes this one (language and task).
    whisper: Any = adapted.whisper
    whisper.generation_config.save_pretrained(str(out_dir))
    _restore_trainable(adapted.model, flags)
    _set_base_spec(out_dir / "adapter_config.json", base_spec)
    return out_dir


def _restore_trainable(model: nn.Module, flags: dict[str, bool]) -> None:
    # PiSSA conversion loads and deletes a helper adapter, which may reset requires_grad.
    for name, param in model.named_parameters():
        if name in flags:
            param.requires_grad_(flags[name])


def _set_base_spec(config_file: Path, base_spec: str) -> None:
    """Name the user's model spec as the base, so the adapter resolves on any machine."""
    config = json.loads(config_file.read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = portable_spec(base_spec)
    atomic_write_json(config_file, config)


def portable_spec(spec: str) -> str:
    """``embedded:``/hub specs as given; a folder as an absolute path."""
    path = Path(spec).expanduser()
    if not spec.startswith("embedded:") and path.exists():
        return str(path.resolve())
    return spec


def _copy_tokenizer_files(base_dir: Path, target: Path) -> None:
    for name in TOKENIZER_FILES:
        if (Path(base_dir) / name).is_file():
            shutil.copyfile(Path(base_dir) / name, target / name)
