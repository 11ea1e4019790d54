"""Activation (gradient) checkpointing of a Whisper model, for ``train`` and ``acft`` alike."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def enable_gradient_checkpointing(whisper: Any) -> None:
    """Checkpoint every Whisper layer, with gradients still reaching frozen-input adapters.

    Reentrant checkpointing only back-propagates into a segment whose input requires grad.
    With a frozen model the inputs are the conv1 output (encoder) and the token embeddings
    (decoder), and neither requires grad; ``enable_input_require_grads`` covers only the
    token embeddings (Whisper's "input embeddings"), so a hook marks conv1's output too.
    """
    kwargs = {"use_reentrant": True}
    enable = getattr(whisper, "activation_checkpointing_enable", None)  # transformers >= 5.2x
    if enable is not None:
        enable(activation_checkpointing_kwargs=kwargs)
    else:
        whisper.gradient_checkpointing_enable(gradient_checkpointing_kwargs=kwargs)
    whisper.config.use_cache = False

    def require_grad(_module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        if torch.is_grad_enabled() and not output.requires_grad:
            output.requires_grad_(True)

    whisper.model.encoder.conv1.register_forward_hook(require_grad)
    whisper.model.decoder.embed_tokens.register_forward_hook(require_grad)
