"""Encoder context choices shared by eval and verify: full, FUTO's dynamic one, an offset, a number.

- ``"full"``: the whole 30 s window (1500 positions), what training and HF use;
- ``"futo"``: FUTO Keyboard's ``clamp(ceil(samples/320) + 32, 160, 1500)``;
- ``"futo+N"``: ``ceil(samples/320) + N`` without the floor (FUTO Voice Input is ``futo+32``);
- an integer: that many positions for every clip.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from whisper_tune.errors import ConfigError
from whisper_tune.models.short_encoder import futo_audio_ctx
from whisper_tune.whisper_constants import FULL_AUDIO_CTX

_OFFSET = re.compile(r"^futo\+(\d{1,4})$")
#: What ``verify --short-audio`` and the benchmarks sweep.
SHORT_AUDIO_SWEEP: tuple[str, ...] = ("futo", "futo+8", "futo+32", "futo+64")
#: The contexts FUTO's apps actually use (Keyboard, Voice Input): the short-audio verdict.
FUTO_DEPLOYED: tuple[str, ...] = ("futo", "futo+32")


def parse_audio_ctx(value: str | int | None) -> str:
    """Canonical label of an audio-context choice; raises ConfigError for anything else."""
    if value is None:
        return "full"
    text = str(value).strip().lower()
    if text in ("full", "futo") or _OFFSET.match(text):
        return text
    if text.isdigit() and 1 <= int(text) <= FULL_AUDIO_CTX:
        return str(int(text))
    raise ConfigError(
        f"audio context {value!r} is not understood; expected full, futo, futo+N (N = positions added "
        f"to ceil(samples/320), no floor) or a number of positions from 1 to {FULL_AUDIO_CTX}"
    )


def contexts_for(clips: Sequence[np.ndarray], choice: str | int | None) -> list[int | None]:
    """The audio_ctx per clip for a choice (None = full context)."""
    label = parse_audio_ctx(choice)
    if label == "full":
        return [None] * len(clips)
    if label == "futo":
        return [futo_audio_ctx(len(c)) for c in clips]
    match = _OFFSET.match(label)
    if match:
        return [futo_audio_ctx(len(c), offset=int(match.group(1)), floor=None) for c in clips]
    return [int(label)] * len(clips)
