"""The attention kernel a training forward uses, chosen where the choice pays (measured).

transformers runs Whisper's attention through torch's ``scaled_dot_product_attention``,
which on a CPU is a flash-attention kernel. Its backward pass is slow for short sequences.

Under bf16 autocast on a CPU, plain attention (transformers' ``eager``) is faster up to a few
hundred positions. It is two bf16 matrix products and a float32 softmax. The measurement is
forward and backward, 8 clips, 6 heads of 64, one thread, 2-core AMD EPYC, torch 2.13:

| positions | flash | plain |
|---|---:|---:|
| 150 | 28 ms | 6 ms |
| 300 | 46 ms | 22 ms |
| 450 | 106 ms | 119 ms |
| 1500 | 790 ms | 2056 ms |

In float32, plain attention is already slower at 300 positions (99 ms against 51 ms), so the
switch is made only under bf16 autocast.

Short-context steps are where this pays: ACFT, whose student runs at the clip's own
``audio_ctx``, and ``train``'s clip-context batches. Together with
:mod:`whisper_tune.training.lookup_gradient`, an ACFT step of ``bench/acft_anchor.py``
after its first epoch went from 0.51 s to 0.37 s (docs/ACFT.md).

The scores are rounded to bf16 before the float32 softmax, as every other product under
autocast is. Training tolerates that; evaluation and decoding keep the model's own kernel:
the switch holds only inside :func:`training_attention`, and only with gradients on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

#: Longest encoder context (positions) trained with plain attention under CPU bf16 autocast:
#: below the measured crossover between 300 and 450 positions.
PLAIN_ATTENTION_MAX_POSITIONS = 384


def plain_attention_pays(device: torch.device, positions: int) -> bool:
    """Whether plain attention trains faster than flash for ``positions`` on ``device`` now:
    a CPU, bf16 autocast on, gradients on (a training forward) and a short enough context."""
    return (device.type == "cpu" and positions <= PLAIN_ATTENTION_MAX_POSITIONS and torch.is_grad_enabled()
            and torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)


@contextlib.contextmanager
def training_attention(model: Any, device: torch.device, positions: int) -> Iterator[None]:
    """Run the block with the faster attention kernel for a training forward of ``positions``.

    ``model``: a Whisper model or a PEFT wrapper of one; every attention layer of a
    transformers model reads the one ``config`` object it shares, at call time.
    """
    config = model.config
    # Checkpointed layers run their forward again during backward, after this block has
    # ended: they must compute the same function both times, so they keep the model's kernel.
    if not plain_attention_pays(device, positions) or config._attn_implementation == "eager" or _checkpointed(model):
        yield
        return
    before = config._attn_implementation
    config._attn_implementation = "eager"
    try:
        yield
    finally:
        config._attn_implementation = before


def _checkpointed(model: Any) -> bool:
    # transformers >= 5.2x names it is_activation_checkpointing and warns on the old name
    for name in ("is_activation_checkpointing", "is_gradient_checkpointing"):
        flag = getattr(model, name, None)
        if flag is not None:
            return bool(flag)
    return False
