"""Picking the compute device and the mixed-precision mode it supports."""

from __future__ import annotations

import torch


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` if given ("cpu", "cuda", "cuda:1", "mps"), else cuda > mps > cpu."""
    if requested and requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def supported_precision(device: torch.device, requested: str) -> str:
    """Resolve "auto" to bf16 (CUDA with bf16 support), fp16 (other CUDA/MPS) or "no"."""
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"
