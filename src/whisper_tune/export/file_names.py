"""File names for an exported model: whisper.cpp's convention and FUTO's.

whisper.cpp's download script names files ``ggml-<model>.bin`` (f16) and
``ggml-<model>-<quant>.bin``; FUTO's own models are named like ``tiny_en_acft_q8_0.bin``.
The model size comes from the architecture's dimensions (``whisper_constants.LAYOUTS``, not
a guess from a file size), English-only from the vocabulary size, ACFT from the marker the
ACFT step writes into config.json (``"whisper_tune": {"acft": true}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whisper_tune.errors import ExportError
from whisper_tune.whisper_constants import ENGLISH_ONLY_VOCAB, N_MELS, layout_name

#: Sizes FUTO Voice Input and FUTO Keyboard accept.
FUTO_SIZES: tuple[str, ...] = ("tiny", "base", "small")


@dataclass(frozen=True)
class ModelIdentity:
    size: str  # a released layout's name (tiny .. large-v3-turbo, distil-*), or "custom"
    english_only: bool
    acft: bool

    @property
    def whisper_cpp_stem(self) -> str:
        """tiny.en, base, large-v3, large-v3-turbo, ... (``ggml-<stem>.bin``)."""
        return f"{self.size}.en" if self.english_only else self.size


def identify(config: dict[str, Any]) -> ModelIdentity:
    """Size, English-only and ACFT flags of a Whisper model from its HF ``config.json``."""
    encoder_layers = int(config.get("encoder_layers", 0))
    size = layout_name(encoder_layers, int(config.get("decoder_layers", encoder_layers)),
                       int(config.get("d_model", 0)), int(config.get("num_mel_bins", N_MELS)))
    marker = config.get("whisper_tune") or {}
    acft = bool(marker.get("acft", False)) if isinstance(marker, dict) else False
    return ModelIdentity(size, int(config.get("vocab_size", 0)) == ENGLISH_ONLY_VOCAB, acft)


def whisper_cpp_name(stem: str, dtype: str) -> str:
    """``ggml-<stem>.bin`` for f16 (whisper.cpp's default), ``ggml-<stem>-<dtype>.bin`` else."""
    return f"ggml-{stem}.bin" if dtype == "f16" else f"ggml-{stem}-{dtype}.bin"


def futo_name(identity: ModelIdentity, dtype: str) -> str:
    """``tiny_en_acft_q8_0.bin`` style, as FUTO names its own models."""
    if identity.size not in FUTO_SIZES:
        raise ExportError(
            f"FUTO Voice Input accepts only {', '.join(FUTO_SIZES)} models; this one is "
            f"{identity.size}. Export with `out` naming a file instead of `futo`"
        )
    parts = [identity.size, *(["en"] if identity.english_only else []), *(["acft"] if identity.acft else []), dtype]
    return "_".join(parts) + ".bin"
