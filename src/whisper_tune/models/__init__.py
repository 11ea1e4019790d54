"""Model sources: resolve any spec to a local HF Whisper folder, load it, run it shortened.

Names are imported lazily so that ``import whisper_tune.models`` (the resolver, used by
export and the CLI) does not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_model": "whisper_tune.models.loading",
    "load_processor": "whisper_tune.models.loading",
    "merge_adapter_into": "whisper_tune.models.loading",
    "EMBEDDED_MODELS": "whisper_tune.models.resolve",
    "ResolvedModel": "whisper_tune.models.resolve",
    "resolve_model": "whisper_tune.models.resolve",
    "FULL_AUDIO_CTX": "whisper_tune.whisper_constants",
    "clamp_audio_ctx": "whisper_tune.models.short_encoder",
    "encode_short": "whisper_tune.models.short_encoder",
    "futo_audio_ctx": "whisper_tune.models.short_encoder",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
