"""Scoring transcripts: text normalizers, WER/CER, repetition-loop detection, model evaluation."""

from whisper_tune.evaluation.loops import LoopCheck, detect_loop
from whisper_tune.evaluation.metrics import ErrorCounts, char_errors, corpus_errors, word_errors
from whisper_tune.evaluation.normalize import normalize_text, normalizer_for

__all__ = [
    "ErrorCounts",
    "LoopCheck",
    "char_errors",
    "corpus_errors",
    "detect_loop",
    "normalize_text",
    "normalizer_for",
    "word_errors",
]
