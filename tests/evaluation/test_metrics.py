"""WER/CER by our own edit distance, checked against hand-computed alignments."""

from __future__ import annotations

import pytest

from whisper_tune.evaluation.metrics import (
    ErrorCounts,
    char_errors,
    corpus_errors,
    edit_counts,
    total_errors,
    word_errors,
)


@pytest.mark.parametrize(
    ("reference", "hypothesis", "expected"),
    [
        ("a b c d", "a b c d", (0, 0, 0, 4)),
        ("a b c d", "a x c d", (1, 0, 0, 4)),  # one substitution
        ("a b c d", "a c d", (0, 1, 0, 4)),  # b deleted
        ("a b c d", "a b c d e", (0, 0, 1, 4)),  # e inserted
        ("a b c d", "a x c d e", (1, 0, 1, 4)),
        ("a b c", "", (0, 3, 0, 3)),
        ("", "a b", (0, 0, 2, 0)),
        ("the cat sat", "cat sat on the mat", (0, 1, 3, 3)),  # 'the' deleted, 'on the mat' inserted
        ("x y", "y x", (2, 0, 0, 2)),  # tie with 1 deletion + 1 insertion: substitutions preferred
    ],
)
def test_edit_counts_hand_computed(reference, hypothesis, expected):
    counts = edit_counts(reference.split(), hypothesis.split())
    assert (counts.substitutions, counts.deletions, counts.insertions, counts.reference) == expected
    assert counts.errors == sum(expected[:3])


def test_rates_per_clip_and_corpus():
    a = word_errors("red green blue pink", "red grin blue pink")  # 1/4
    b = word_errors("cat dog", "cat dog emu owl")  # 2 insertions / 2
    assert a.rate == pytest.approx(0.25)
    assert b.rate == pytest.approx(1.0)
    # corpus: (1 + 2) / (4 + 2), not the mean of 0.25 and 1.0
    assert total_errors([a, b]).rate == pytest.approx(3 / 6)
    assert (a + b) == ErrorCounts(1, 0, 2, 6)


def test_empty_reference_rate():
    assert ErrorCounts(0, 0, 0, 0).rate == 0.0
    assert ErrorCounts(0, 0, 3, 0).rate == 1.0


def test_word_errors_normalize_before_scoring():
    # case, punctuation, "Mr." and British spelling do not count as errors
    assert word_errors("Hello, Mr. Smith! What colour?", "hello mister smith what color").errors == 0
    assert word_errors("Hello, Mr. Smith!", "hello mister smith", normalize=False).errors == 3


def test_char_errors_counts_characters_and_single_spaces():
    counts = char_errors("ask not", "ask  nut")  # o -> u; double space collapsed
    assert (counts.substitutions, counts.deletions, counts.insertions, counts.reference) == (1, 0, 0, 7)
    assert char_errors("abc", "abd", normalize=False).rate == pytest.approx(1 / 3)


def test_corpus_errors_normalize_each_clip_in_its_own_language():
    """German keeps its umlauts: "grün" read as "grun" is an error in German, not in English."""
    references = ["Das Auto ist grün.", "The colour is red."]
    hypotheses = ["das auto ist grun", "the color is red"]
    per_clip = corpus_errors(references, hypotheses, ["de", "en"])
    assert (per_clip.errors, per_clip.reference) == (1, 8)
    assert corpus_errors(references, hypotheses, "en").errors == 0  # English rules hide the German error
    assert corpus_errors(references, hypotheses, ["de", "de"]).errors == 2  # "colour" is not "color" in German
    chars = corpus_errors(references[:1], hypotheses[:1], ["de"], unit="char")
    assert (chars.errors, chars.reference) == (1, len("das auto ist grün"))
    with pytest.raises(ValueError, match="2 references, 2 hypotheses and 1 languages"):
        corpus_errors(references, hypotheses, ["de"])
