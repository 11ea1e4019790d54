"""Word and character error rates by edit distance (our own Levenshtein alignment).

Rates are corpus-level when summed over clips: total edits / total reference units, the way
WER is reported for test sets (a per-clip mean would let short clips dominate).
:func:`corpus_errors` is the one corpus WER/CER of whisper-tune (eval, verify, training's
evaluation and the demo report): it normalizes each clip in that clip's own language.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from whisper_tune.evaluation.normalize import normalize_text


@dataclass(frozen=True)
class ErrorCounts:
    """An alignment's edit counts; ``reference`` is the number of reference units."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """errors / reference units. Against an empty reference any output counts as 100 %."""
        if self.reference:
            return self.errors / self.reference
        return 0.0 if self.errors == 0 else 1.0

    def __add__(self, other: ErrorCounts) -> ErrorCounts:
        return ErrorCounts(self.substitutions + other.substitutions, self.deletions + other.deletions,
                           self.insertions + other.insertions, self.reference + other.reference)

    def to_dict(self) -> dict[str, float | int]:
        return {"substitutions": self.substitutions, "deletions": self.deletions,
                "insertions": self.insertions, "reference": self.reference, "rate": self.rate}


def edit_counts(reference: Sequence[object], hypothesis: Sequence[object]) -> ErrorCounts:
    """Minimum edits turning ``reference`` into ``hypothesis``, split by kind.

    Among alignments with the fewest edits, ties prefer substitutions, then deletions (a
    fixed rule so that the split is deterministic).
    """
    n, m = len(reference), len(hypothesis)
    # Each cell holds (edits, substitutions, deletions, insertions); one row at a time.
    previous = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        current = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            if reference[i - 1] == hypothesis[j - 1]:
                current.append(previous[j - 1])
                continue
            diag, up, left = previous[j - 1], previous[j], current[j - 1]
            best = min(
                (diag[0] + 1, 0, (diag[0] + 1, diag[1] + 1, diag[2], diag[3])),
                (up[0] + 1, 1, (up[0] + 1, up[1], up[2] + 1, up[3])),
                (left[0] + 1, 2, (left[0] + 1, left[1], left[2], left[3] + 1)),
            )
            current.append(best[2])
        previous = current
    _, subs, dels, ins = previous[m]
    return ErrorCounts(subs, dels, ins, n)


def word_errors(reference: str, hypothesis: str, language: str | None = "en", normalize: bool = True) -> ErrorCounts:
    """Word edit counts after normalization (see :mod:`.normalize`)."""
    if normalize:
        reference, hypothesis = normalize_text(reference, language), normalize_text(hypothesis, language)
    return edit_counts(reference.split(), hypothesis.split())


def char_errors(reference: str, hypothesis: str, language: str | None = "en", normalize: bool = True) -> ErrorCounts:
    """Character edit counts after normalization, spaces included (single spaces)."""
    if normalize:
        reference, hypothesis = normalize_text(reference, language), normalize_text(hypothesis, language)
    return edit_counts(list(" ".join(reference.split())), list(" ".join(hypothesis.split())))


def total_errors(counts: Iterable[ErrorCounts]) -> ErrorCounts:
    """Per-clip counts summed: the corpus's edits and reference units."""
    return sum(counts, ErrorCounts())


def corpus_errors(
    references: Sequence[str],
    hypotheses: Sequence[str],
    languages: Sequence[str | None] | str | None = "en",
    unit: Literal["word", "char"] = "word",
) -> ErrorCounts:
    """Corpus edit counts (``.rate`` is the corpus WER or CER) with every clip normalized in
    its own language: ``languages`` gives one code per clip, or one code for all of them
    (None: unknown, normalized as English)."""
    if languages is None or isinstance(languages, str):
        languages = [languages] * len(references)
    if not len(references) == len(hypotheses) == len(languages):
        raise ValueError(f"{len(references)} references, {len(hypotheses)} hypotheses and {len(languages)} languages")
    count = word_errors if unit == "word" else char_errors
    return total_errors(count(ref, hyp, lang) for ref, hyp, lang in zip(references, hypotheses, languages, strict=True))
