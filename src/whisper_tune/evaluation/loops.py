"""Detecting repetition loops: Whisper's failure mode on audio it cannot place.

Three signs, any of which flags a loop: the same 1- to 8-gram (tokens, or case-folded words)
repeated at least ``min_repeats`` times in a row at the end of the output; decoding stopped by the token cap
rather than end-of-text; or a gzip compression ratio above 2.4 (OpenAI's threshold for
"too repetitive" in its temperature fallback).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass

#: OpenAI's compression_ratio_threshold.
COMPRESSION_RATIO_THRESHOLD = 2.4
MIN_REPEATS = 4
MAX_NGRAM = 8


@dataclass(frozen=True)
class LoopCheck:
    is_loop: bool
    reasons: tuple[str, ...] = ()
    ngram: tuple[object, ...] = ()  # the repeated unit, if a repeat was found
    repeats: int = 0
    compression_ratio: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {"is_loop": self.is_loop, "reasons": list(self.reasons), "repeats": self.repeats,
                "compression_ratio": round(self.compression_ratio, 3)}


def compression_ratio(text: str) -> float:
    """len(utf-8 bytes) / len(zlib-compressed bytes), as OpenAI computes it."""
    data = text.encode("utf-8")
    return len(data) / len(zlib.compress(data)) if data else 0.0


def trailing_repeat(units: Sequence[object], max_n: int = MAX_NGRAM) -> tuple[tuple[object, ...], int]:
    """The n-gram (n <= max_n) repeated most times in a row at the end of ``units``, and how often."""
    best: tuple[tuple[object, ...], int] = ((), 0)
    for n in range(1, max_n + 1):
        if len(units) < 2 * n:
            break
        gram = tuple(units[-n:])
        repeats, end = 1, len(units) - n
        while end - n >= 0 and tuple(units[end - n:end]) == gram:
            repeats += 1
            end -= n
        if repeats > best[1]:
            best = (gram, repeats)
    return best


def detect_loop(
    text: str,
    tokens: Sequence[int] | None = None,
    hit_token_cap: bool = False,
    min_repeats: int = MIN_REPEATS,
) -> LoopCheck:
    """Flag a repetition loop in one decoded clip (tokens when known, else words)."""
    units: Sequence[object] = list(tokens) if tokens else [w.strip(".,!?;:\"'").lower() for w in text.split()]
    gram, repeats = trailing_repeat(units)
    ratio = compression_ratio(text)
    reasons = []
    if repeats >= min_repeats:
        reasons.append(f"{len(gram)}-gram repeated {repeats} times at the end")
    if hit_token_cap:
        reasons.append("stopped at the token cap")
    if ratio > COMPRESSION_RATIO_THRESHOLD:
        reasons.append(f"compression ratio {ratio:.2f} > {COMPRESSION_RATIO_THRESHOLD}")
    return LoopCheck(bool(reasons), tuple(reasons), gram if repeats >= min_repeats else (), repeats, ratio)
