"""Backend-neutral decoding options and results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: FUTO's apps cap a dictation at 256 tokens; so do we by default, which also bounds loops.
DEFAULT_MAX_TOKENS = 224


@dataclass(frozen=True)
class DecodeOptions:
    """How to decode. The defaults are verify's: greedy, no fallback, no timestamps.

    ``audio_ctx`` None means the full 30 s context (1500 positions); an int runs the
    encoder on the first ``audio_ctx`` positions only (whisper.cpp's ``audio_ctx``).
    """

    language: str | None = None
    task: str = "transcribe"
    audio_ctx: int | None = None
    beam_size: int = 1
    max_tokens: int = DEFAULT_MAX_TOKENS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Transcript:
    """One decoded clip."""

    text: str
    tokens: list[int] = field(default_factory=list)
    duration: float = 0.0  # seconds of audio
    seconds: float = 0.0  # wall time spent decoding this clip
    audio_ctx: int | None = None
    source: str = ""  # file name or clip id
    hit_token_cap: bool = False  # decoding stopped at max_tokens, not at end-of-text

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.duration if self.duration else 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["real_time_factor"] = round(self.real_time_factor, 4)
        return data
