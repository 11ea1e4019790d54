"""Short cuts of jfk.wav (the shared test recording) with their words: a short-audio probe.

A test and benchmark helper (tests, bench/verify.py), not part of the package.

The cut points lie in the pauses of the recording (found from its energy envelope), so each
cut holds whole words: 1.9 to 4.9 s of speech, the length of a dictated phrase, where stock
Whisper with a short encoder context loops (docs/ACFT.md).
"""

from __future__ import annotations

import numpy as np

from whisper_tune.evaluation.eval import EvalClip
from whisper_tune.whisper_constants import SAMPLE_RATE

#: (id, start s, end s, words spoken).
JFK_CUTS: tuple[tuple[str, float, float, str], ...] = (
    ("jfk-a", 0.0, 2.7, "And so my fellow Americans"),
    ("jfk-b", 3.0, 4.9, "ask not"),
    ("jfk-c", 5.0, 7.9, "what your country can do for you"),
    ("jfk-d", 7.9, 11.0, "ask what you can do for your country"),
    ("jfk-e", 3.0, 7.9, "ask not what your country can do for you"),
    ("jfk-f", 0.0, 4.9, "And so my fellow Americans ask not"),
)


def jfk_cuts(audio: np.ndarray) -> list[EvalClip]:
    """The cuts of jfk.wav's 16 kHz samples as clips to evaluate."""
    return [EvalClip(cut_id, np.ascontiguousarray(audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]), text, "en")
            for cut_id, start, end, text in JFK_CUTS]
