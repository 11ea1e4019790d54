"""Whisper's normalizers: English (numbers, spellings, titles) and basic for other languages."""

from __future__ import annotations

from whisper_tune.evaluation.normalize import normalize_text, normalizer_for


def test_english_normalizer_matches_whisper_scoring():
    assert normalize_text("Mr. Smith paid ten dollars for the colour TV.") == "mister smith paid $10 for the color tv"
    assert normalize_text("And so, my fellow Americans:   ask not!") == "and so my fellow americans ask not"
    assert normalize_text("Um, I think so.") == "i think so"  # fillers dropped


def test_basic_normalizer_for_other_languages_keeps_letters():
    assert normalize_text("Héllo, Wörld! (bonjour)", "fr") == "héllo wörld"
    assert normalizer_for("de") is normalizer_for("fr")
    assert normalizer_for(None) is normalizer_for("en-US")
