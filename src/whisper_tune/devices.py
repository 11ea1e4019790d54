"""Picking the compute device and the mixed-precision mode it supports."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator

import torch

from whisper_tune.errors import ConfigError

log = logging.getLogger(__name__)


def pick_device(requested: str | None = None) -> torch.device:
    """``requested`` if given ("cpu", "cuda", "cuda:1", "mps"), else cuda > mps > cpu."""
    if requested and requested != "auto":
        return torch.device(requested)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products in hardware (AVX512-BF16 or AMX).

    Without it oneDNN emulates bf16 and autocast is slower than float32, not faster.
    """
    probe = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    try:
        return bool(probe()) if probe is not None else False
    except RuntimeError:  # a torch built without oneDNN
        return False


def supported_precision(device: torch.device, requested: str) -> str:
    """The mixed precision to train with on ``device`` ("no", "fp16" or "bf16").

    ``auto``: bf16 on CUDA with bf16 support, else fp16 on CUDA; no on the CPU. An explicit
    ``bf16`` on a CPU without native bf16 is honoured with a warning (it runs emulated and
    slower); fp16 on the CPU is refused.
    """
    if device.type == "cpu":
        if requested == "fp16":
            raise ConfigError("mixed_precision=fp16 is not supported on the CPU; use bf16, auto or no")
        if requested == "auto":
            return "no"
        if requested == "bf16" and not cpu_has_native_bf16():
            log.warning("mixed_precision=bf16: this CPU has no native bf16 (AVX512-BF16 or AMX), so bf16 is "
                        "emulated and usually slower than float32; mixed_precision=no is the fast choice here")
        return requested
    if requested != "auto":
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "no"


@contextlib.contextmanager
def attention_for_varying_shapes(device: torch.device) -> Iterator[None]:
    """Scaled-dot-product attention without cuDNN's backend, for work whose shapes change per batch.

    For bf16 and fp16 on recent GPUs torch tries cuDNN's attention first, and cuDNN builds
    and caches an execution graph for every new shape it sees (hundreds of milliseconds
    each). Clip-context batches give almost every step a new length, so training paid that
    cost on most steps: on an H200, LoRA on a base.en-sized model ran at 14 samples/s in bf16
    against 52 in float32. Flash and memory-efficient attention take any shape at no set-up
    cost, and float32 never used cuDNN, so only mixed precision changes.
    """
    if device.type != "cuda":
        yield
        return
    from torch.nn.attention import SDPBackend, sdpa_kernel

    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]):
        yield


@contextlib.contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run the block with ``count`` intra-op threads, then restore the previous count.

    For work that runs beside other processes on the same cores (whisper.cpp workers): torch's
    threads spin while they wait, so more threads than free cores slows everyone down.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(max(1, count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)
