"""The rename table from Hugging Face Whisper tensor names to whisper.cpp (GGML) names.

Every HF key must match exactly one rule; an unknown key is an error, never skipped, because
a tensor whisper.cpp does not know about is a model it cannot represent.
"""

from __future__ import annotations

import re

from whisper_tune.errors import ExportError
from whisper_tune.whisper_constants import OUTPUT_PROJECTION

# OUTPUT_PROJECTION is the one HF tensor that is not written: whisper.cpp computes logits
# with the token embedding, so it must equal it (checked by the exporter) and is dropped.

# Sub-module names inside an encoder/decoder layer.
_LAYER_PARTS: dict[str, str] = {
    "self_attn.q_proj": "attn.query",
    "self_attn.k_proj": "attn.key",
    "self_attn.v_proj": "attn.value",
    "self_attn.out_proj": "attn.out",
    "self_attn_layer_norm": "attn_ln",
    "encoder_attn.q_proj": "cross_attn.query",
    "encoder_attn.k_proj": "cross_attn.key",
    "encoder_attn.v_proj": "cross_attn.value",
    "encoder_attn.out_proj": "cross_attn.out",
    "encoder_attn_layer_norm": "cross_attn_ln",
    "fc1": "mlp.0",
    "fc2": "mlp.2",
    "final_layer_norm": "mlp_ln",
}

# Tensors outside the layers, full names without the "model." prefix.
_TOP_LEVEL: dict[str, str] = {
    "encoder.conv1.weight": "encoder.conv1.weight",
    "encoder.conv1.bias": "encoder.conv1.bias",
    "encoder.conv2.weight": "encoder.conv2.weight",
    "encoder.conv2.bias": "encoder.conv2.bias",
    "encoder.embed_positions.weight": "encoder.positional_embedding",
    "encoder.layer_norm.weight": "encoder.ln_post.weight",
    "encoder.layer_norm.bias": "encoder.ln_post.bias",
    "decoder.embed_tokens.weight": "decoder.token_embedding.weight",
    "decoder.embed_positions.weight": "decoder.positional_embedding",
    "decoder.layer_norm.weight": "decoder.ln.weight",
    "decoder.layer_norm.bias": "decoder.ln.bias",
}

_LAYER_KEY = re.compile(r"^(encoder|decoder)\.layers\.(\d+)\.(.+)\.(weight|bias)$")


def ggml_name(hf_name: str) -> str | None:
    """The whisper.cpp name of HF tensor ``hf_name``; None for the (tied) output projection.

    Raises :class:`ExportError` for a key no rule covers.
    """
    if hf_name == OUTPUT_PROJECTION:
        return None
    name = hf_name.removeprefix("model.")
    if name in _TOP_LEVEL:
        return _TOP_LEVEL[name]
    match = _LAYER_KEY.match(name)
    if match:
        stack, index, part, kind = match.groups()
        mapped = _LAYER_PARTS.get(part)
        cross = part.startswith("encoder_attn")
        if mapped is not None and not (cross and stack == "encoder"):
            return f"{stack}.blocks.{index}.{mapped}.{kind}"
    raise ExportError(
        f"tensor {hf_name!r} has no whisper.cpp equivalent; whisper.cpp can only load the "
        "standard Whisper architecture (merge adapters first; remove extra heads)"
    )
