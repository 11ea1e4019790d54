"""A PEFT adapter's ``adapter_config.json``: reading it and refusing adapters that cannot be merged.

Used by model loading (an adapter spec is merged into its base on load) and by
:mod:`whisper_tune.merge`; it lives below both so that neither imports the other.
PiSSA, OLoRA and CorDA adapters saved without conversion are only valid on a residual base:
see :mod:`whisper_tune.merge`'s docstring.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from whisper_tune.errors import ModelSourceError
from whisper_tune.fileio import read_json_object

#: init_lora_weights values whose adapter is relative to a changed (residual) base.
RESIDUAL_BASE_INITS: tuple[str, ...] = ("pissa", "olora", "corda")


def read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    return read_json_object(adapter_dir / "adapter_config.json", ModelSourceError, "PEFT adapter config")


def check_adapter_base(adapter_dir: Path) -> None:
    """Refuse an adapter that is only valid on a residual base (unconverted PiSSA and kin)."""
    config = read_adapter_config(adapter_dir)
    init = config.get("init_lora_weights")
    if isinstance(init, str) and init.lower().startswith(RESIDUAL_BASE_INITS):
        raise ModelSourceError(
            f"{adapter_dir}: adapter_config.json has init_lora_weights={init!r}: this adapter is only valid "
            "on the residual base PEFT built when it was initialised (the principal components are "
            "subtracted from the base), not on the original model, so merging it would give a wrong "
            "model. Save it converted to a plain LoRA on the original base: "
            "model.save_pretrained(DIR, path_initial_model_for_weight_conversion=INITIAL_ADAPTER_DIR) "
            "where INITIAL_ADAPTER_DIR holds the adapter saved right after initialisation "
            "(whisper-tune's training does this when it saves a PiSSA adapter)"
        )
    peft_type = str(config.get("peft_type", "LORA")).upper()
    if peft_type != "LORA":
        raise ModelSourceError(
            f"{adapter_dir}: peft_type {peft_type} cannot be merged into the weights; whisper-tune merges "
            "LoRA-family adapters (LoRA, DoRA, converted PiSSA)"
        )
