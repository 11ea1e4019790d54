"""One reused gradient buffer for a token embedding that is only looked up, never multiplied.

In ACFT the decoder's token embedding is read by lookup only: no logits are computed, so the
tied output projection takes no part. Its gradient therefore has rows only for the few
hundred tokens of a batch. torch's dense embedding backward still allocates a fresh
``vocab x width`` tensor on every step and zero-fills it. For Whisper that is 51 864 x 384
float32, 80 MB. On a CPU, fresh pages cost a page fault each, so the fill took 27 ms of a
0.41-s ACFT step (bench/acft_anchor.py, profiled).

:class:`LookupGradient` makes the lookup produce a sparse gradient, which has the batch's rows
only. A hook then writes those rows into one dense buffer that it keeps between steps,
zeroing only the rows of the previous step. The optimizer sees an ordinary dense gradient,
with the same values as the dense backward's.

It is meant for one process on a CPU. A GPU's caching allocator already reuses memory, and
distributed data parallel hooks gradients itself.
"""

from __future__ import annotations

import torch
from torch import nn


class LookupGradient:
    """Dense gradients for ``embedding`` built from sparse lookups in a buffer kept across steps.

    Correct with gradient accumulation: a later micro-batch adds its sparse rows into the
    buffer, and its rows are remembered for the next zeroing. Also correct when the optimizer
    zeroes gradients in place instead of dropping them.
    """

    def __init__(self, embedding: nn.Embedding) -> None:
        self.embedding = embedding
        self._buffer: torch.Tensor | None = None
        self._dirty: list[torch.Tensor] = []  # row indices written since the buffer was last cleared
        self._pending: list[torch.Tensor] = []  # rows of this backward pass, seen before accumulation
        embedding.sparse = True
        self._handles = [embedding.weight.register_hook(self._note_rows),
                         embedding.weight.register_post_accumulate_grad_hook(self._densify)]

    def remove(self) -> None:
        """Back to torch's dense embedding backward."""
        for handle in self._handles:
            handle.remove()
        self.embedding.sparse = False

    def _note_rows(self, grad: torch.Tensor) -> torch.Tensor:
        if grad.is_sparse:
            self._pending.append(grad._indices()[0])
        return grad

    def _densify(self, param: torch.Tensor) -> None:
        grad = param.grad
        rows, self._pending = self._pending, []
        if grad is None:
            return
        if not grad.is_sparse:  # accumulated into the buffer (or a zeroed dense grad) in place
            self._dirty += rows
            return
        buffer = self._clean_buffer(param)
        grad = grad.coalesce()
        buffer.index_copy_(0, grad.indices()[0], grad.values().to(buffer.dtype))
        self._dirty = rows
        param.grad = buffer

    def _clean_buffer(self, param: torch.Tensor) -> torch.Tensor:
        if self._buffer is None or self._buffer.shape != param.shape or self._buffer.device != param.device:
            self._buffer = torch.zeros_like(param, memory_format=torch.contiguous_format)
        elif self._dirty:
            self._buffer.index_fill_(0, torch.cat(self._dirty), 0.0)
        self._dirty = []
        return self._buffer
