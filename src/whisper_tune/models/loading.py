"""Loading resolved models and processors into memory."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from whisper_tune.errors import ModelSourceError
from whisper_tune.formats.safetensors import has_safetensors, weight_files
from whisper_tune.models.adapter_config import check_adapter_base
from whisper_tune.models.resolve import ResolvedModel, resolve_model

if TYPE_CHECKING:
    import torch
    from transformers import WhisperForConditionalGeneration, WhisperProcessor

log = logging.getLogger(__name__)


def load_model(
    spec: str | Path | ResolvedModel,
    dtype: torch.dtype | None = None,
    device: str | torch.device = "cpu",
) -> WhisperForConditionalGeneration:
    """Load a Whisper model for any spec; an adapter is merged into its base.

    ``dtype`` defaults to float32: transformers 5 otherwise keeps the saved dtype (float16
    for OpenAI's weights), which neither trains nor runs well on a CPU.
    """
    import torch
    from transformers import WhisperForConditionalGeneration
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # our own progress output is enough
    resolved = resolve_model(spec)
    if has_safetensors(resolved.path):
        weight_files(resolved.path)  # a broken shard index: a clear FormatError, not a loader trace
    dtype = dtype or torch.float32
    try:
        model = WhisperForConditionalGeneration.from_pretrained(resolved.path, dtype=dtype)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelSourceError(f"{resolved.path}: cannot load as a Whisper model ({exc})") from exc
    if resolved.adapter is not None:
        model = merge_adapter_into(model, resolved.adapter)
    # transformers wraps PreTrainedModel.to in a decorator whose type mypy reads as taking the model.
    return model.to(device).eval()  # type: ignore[arg-type]


def merge_adapter_into(
    model: WhisperForConditionalGeneration, adapter: Path
) -> WhisperForConditionalGeneration:
    """Apply a PEFT adapter (LoRA, DoRA, or PiSSA saved relative to the original base).

    An adapter only valid on a residual base (unconverted PiSSA) is refused: merged into the
    original weights it would silently give a different model.
    """
    from peft import PeftModel

    check_adapter_base(Path(adapter))
    try:
        peft_model = PeftModel.from_pretrained(model, str(adapter))
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ModelSourceError(f"{adapter}: cannot apply this adapter to its base model ({exc})") from exc
    return peft_model.merge_and_unload()


def load_processor(spec: str | Path | ResolvedModel) -> WhisperProcessor:
    from transformers import WhisperProcessor

    resolved = resolve_model(spec)
    try:
        return WhisperProcessor.from_pretrained(resolved.path)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelSourceError(
            f"{resolved.path}: cannot load the tokenizer/feature extractor ({exc}); "
            "run `whisper-tune check MODEL --fix` to write missing tokenizer files"
        ) from exc
