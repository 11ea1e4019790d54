"""Model sources: resolve any spec to a local HF Whisper folder, load it, run it shortened."""

from whisper_tune.models.loading import load_model, load_processor, merge_adapter_into
from whisper_tune.models.resolve import EMBEDDED_MODELS, ResolvedModel, resolve_model
from whisper_tune.models.short_encoder import (
    FULL_AUDIO_CTX,
    clamp_audio_ctx,
    encode_short,
    futo_audio_ctx,
)

__all__ = [
    "EMBEDDED_MODELS",
    "FULL_AUDIO_CTX",
    "ResolvedModel",
    "clamp_audio_ctx",
    "encode_short",
    "futo_audio_ctx",
    "load_model",
    "load_processor",
    "merge_adapter_into",
    "resolve_model",
]
