"""Device and precision choices (whisper_tune.devices)."""

from __future__ import annotations

import pytest
import torch

from whisper_tune.devices import attention_for_varying_shapes, supported_precision
from whisper_tune.errors import ConfigError


def _backends() -> tuple[bool, bool, bool, bool]:
    cuda = torch.backends.cuda
    return (cuda.cudnn_sdp_enabled(), cuda.flash_sdp_enabled(), cuda.mem_efficient_sdp_enabled(),
            cuda.math_sdp_enabled())


def test_varying_shapes_on_cuda_turn_off_cudnn_attention_only_inside() -> None:
    before = _backends()
    assert before[0], "torch's default enables cuDNN attention; the test would prove nothing"
    with attention_for_varying_shapes(torch.device("cuda")):
        assert _backends() == (False, True, True, True)
    assert _backends() == before


def test_varying_shapes_leave_the_cpu_alone() -> None:
    before = _backends()
    with attention_for_varying_shapes(torch.device("cpu")):
        assert _backends() == before


def test_auto_precision_on_the_cpu_is_float32_and_fp16_is_refused() -> None:
    assert supported_precision(torch.device("cpu"), "auto") == "no"
    assert supported_precision(torch.device("cpu"), "no") == "no"
    with pytest.raises(ConfigError, match="fp16 is not supported on the CPU"):
        supported_precision(torch.device("cpu"), "fp16")
