"""The Whisper encoder on a shortened input: what whisper.cpp's ``audio_ctx`` computes.

whisper.cpp (and FUTO Voice Input, which sets ``audio_ctx`` from the clip length) runs the
encoder on the first ``2 * n_ctx`` mel frames and adds only the first ``n_ctx`` rows of the
positional embedding (sliced, not interpolated). transformers' ``WhisperEncoder`` refuses any
input that is not exactly 3000 frames, so this forward is our own. It reuses the model's own
modules, so it trains (ACFT, short-context training) and decodes (eval, transcribe) alike.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from whisper_tune.whisper_constants import FULL_AUDIO_CTX, SAMPLES_PER_POSITION

if TYPE_CHECKING:  # torch is imported where it is used: the context arithmetic needs none of it
    import torch
    from torch import nn

#: FUTO Keyboard's dynamic context: ceil(samples / 320) + 32, at least 160
#: (docs/WHISPER_CPP_RUNTIME.md, "FUTO's apps as a whisper.cpp client").
FUTO_OFFSET = 32
FUTO_FLOOR = 160


def futo_audio_ctx(
    n_samples: int, offset: int = FUTO_OFFSET, floor: int | None = FUTO_FLOOR, ceiling: int = FULL_AUDIO_CTX
) -> int:
    """The audio_ctx FUTO's apps give whisper.cpp for a clip of ``n_samples`` at 16 kHz.

    ``floor=None`` is FUTO Voice Input (no floor); the default is FUTO Keyboard's 160.
    """
    ctx = math.ceil(n_samples / SAMPLES_PER_POSITION) + offset
    return clamp_audio_ctx(max(ctx, floor) if floor else ctx, ceiling)


def clamp_audio_ctx(n_ctx: int, ceiling: int = FULL_AUDIO_CTX) -> int:
    return int(min(max(int(n_ctx), 1), ceiling))


def encode_short(model: nn.Module, input_features: torch.Tensor, n_ctx: int) -> torch.Tensor:
    """Encoder hidden states [batch, n_ctx, d_model] from the first ``2*n_ctx`` mel frames.

    ``model`` is a ``WhisperForConditionalGeneration`` or ``WhisperModel`` (or a PEFT wrapper
    of one). With ``n_ctx`` equal to the full context this equals the stock encoder.
    """
    from torch import nn

    encoder = _encoder_of(model)
    max_ctx = encoder.embed_positions.num_embeddings
    n_ctx = clamp_audio_ctx(n_ctx, max_ctx)
    frames = input_features[..., : 2 * n_ctx].to(encoder.conv1.weight.dtype)
    hidden = nn.functional.gelu(encoder.conv1(frames))
    hidden = nn.functional.gelu(encoder.conv2(hidden)).permute(0, 2, 1)
    hidden = hidden + encoder.embed_positions.weight[:n_ctx].to(hidden.dtype)
    hidden = nn.functional.dropout(hidden, p=encoder.dropout, training=encoder.training)
    for layer in encoder.layers:
        hidden = layer(hidden, None)
        if isinstance(hidden, tuple):  # older transformers return (hidden, attn)
            hidden = hidden[0]
    return encoder.layer_norm(hidden)


def _encoder_of(model: nn.Module) -> Any:
    # Any: a WhisperEncoder's submodules are reached by name, which torch types as Tensor | Module.
    candidates: tuple[Any, ...] = (model, getattr(model, "base_model", None))
    for candidate in candidates:
        if candidate is not None and hasattr(candidate, "get_encoder"):
            return candidate.get_encoder()
    if hasattr(model, "conv1") and hasattr(model, "embed_positions"):
        return model
    raise TypeError(f"{type(model).__name__} has no Whisper encoder")
