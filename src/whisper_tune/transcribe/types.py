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

    The rest are whisper.cpp's ``whisper_full`` parameters, which both backends honour:
    ``prompt`` is the initial prompt (tokenized as whisper.cpp does, placed after
    ``<|startofprev|>``); ``suppress_blank`` masks a blank or end-of-text first token;
    ``suppress_tokens`` None masks the model's own suppress list (the HF generation config),
    else exactly these text ids (e.g. whisper.cpp's non-speech set); the thresholds are off
    by default (``entropy_thold`` 0, ``logprob_thold`` None, ``no_speech_thold`` None):
    with them a looping beam fails and a no-speech result is dropped, as in whisper.cpp;
    ``temperature_inc`` > 0 lets whisper.cpp fall back to sampling, which the reference
    decoder does not reproduce. ``raw_max_tokens`` passes ``max_tokens`` to whisper.cpp as
    it is (as deployed apps do): a decoder that reaches whisper.cpp's 220-step limit fails
    and gives no text, instead of stopping at the token cap.
    """

    language: str | None = None
    task: str = "transcribe"
    audio_ctx: int | None = None
    beam_size: int = 1
    max_tokens: int = DEFAULT_MAX_TOKENS
    prompt: str = ""
    suppress_blank: bool = True
    suppress_tokens: tuple[int, ...] | None = None
    entropy_thold: float = 0.0
    logprob_thold: float | None = None
    no_speech_thold: float | None = None
    temperature_inc: float = 0.0
    raw_max_tokens: bool = False

    @property
    def whisper_cpp_rules(self) -> bool:
        """Thresholds or whisper.cpp's own token limit: decoded by the whisper.cpp-rules decoder."""
        return (self.raw_max_tokens or self.entropy_thold > 0 or self.logprob_thold is not None
                or self.no_speech_thold is not None)

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
