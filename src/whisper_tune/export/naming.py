"""File names for an exported model: whisper.cpp's convention and FUTO's.

whisper.cpp's download script names files ``ggml-<model>.bin`` (f16) and
``ggml-<model>-<quant>.bin``; FUTO's own models are named like ``tiny_en_acft_q8_0.bin``.
The model size comes from the architecture's dimensions (a table, not a guess from a file
size), English-only from the vocabulary size, ACFT from the marker the ACFT step writes
into config.json (``"whisper_tune": {"acft": true}``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from whisper_tune.errors import ExportError

#: (encoder layers, width) -> OpenAI size name. Decoder depth separates large-v3-turbo.
SIZES: dict[tuple[int, int], str] = {
    (4, 384): "tiny",
    (6, 512): "base",
    (12, 768): "small",
    (24, 1024): "medium",
    (32, 1280): "large",
}
#: Sizes FUTO Voice Input and FUTO Keyboard accept.
FUTO_SIZES: tuple[str, ...] = ("tiny", "base", "small")
ENGLISH_VOCAB = 51864


@dataclass(frozen=True)
class ModelIdentity:
    size: str  # tiny .. large-v3-turbo, or "custom" for dimensions no OpenAI model has
    english_only: bool
    acft: bool

    @property
    def whisper_cpp_stem(self) -> str:
        """tiny.en, base, large-v3, large-v3-turbo, ... (``ggml-<stem>.bin``)."""
        return f"{self.size}.en" if self.english_only else self.size


def identify(config: dict[str, Any]) -> ModelIdentity:
    """Size, English-only and ACFT flags of a Whisper model from its HF ``config.json``."""
    encoder_layers, width = int(config.get("encoder_layers", 0)), int(config.get("d_model", 0))
    size = SIZES.get((encoder_layers, width), "custom")
    if size == "large":
        if int(config.get("num_mel_bins", 80)) == 128:
            size = "large-v3-turbo" if int(config.get("decoder_layers", 32)) == 4 else "large-v3"
        else:
            size = "large-v2"  # v1 and v2 share every dimension; v2 is the one in use
    marker = config.get("whisper_tune") or {}
    acft = bool(marker.get("acft", False)) if isinstance(marker, dict) else False
    return ModelIdentity(size, int(config.get("vocab_size", 0)) == ENGLISH_VOCAB, acft)


def whisper_cpp_name(stem: str, dtype: str) -> str:
    """``ggml-<stem>.bin`` for f16 (whisper.cpp's default), ``ggml-<stem>-<dtype>.bin`` else."""
    return f"ggml-{stem}.bin" if dtype == "f16" else f"ggml-{stem}-{dtype}.bin"


def futo_name(identity: ModelIdentity, dtype: str) -> str:
    """``tiny_en_acft_q8_0.bin`` style, as FUTO names its own models."""
    if identity.size not in FUTO_SIZES:
        raise ExportError(
            f"FUTO Voice Input accepts only {', '.join(FUTO_SIZES)} models; this one is "
            f"{identity.size}. Export with --out FILE instead of --futo-name"
        )
    parts = [identity.size, *(["en"] if identity.english_only else []), *(["acft"] if identity.acft else []), dtype]
    return "_".join(parts) + ".bin"
