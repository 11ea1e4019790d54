"""Repetition-loop detection: trailing repeated n-grams, the token cap, gzip ratio."""

from __future__ import annotations

from whisper_tune.evaluation.loops import compression_ratio, detect_loop, trailing_repeat


def test_trailing_repeat_finds_the_longest_run_of_1_to_4_grams():
    assert trailing_repeat(["a", "b", "c", "c", "c", "c"]) == (("c",), 4)
    assert trailing_repeat(["x", "and", "so", "and", "so", "and", "so"]) == (("and", "so"), 3)
    assert trailing_repeat([1, 2, 3, 4, 1, 2, 3, 4]) == ((1, 2, 3, 4), 2)
    assert trailing_repeat(["one", "two"]) == (("two",), 1)


def test_loop_flags():
    looped = detect_loop("And so my fellow Americans and so my fellow Americans " * 3)
    assert looped.is_loop and looped.repeats >= 4 and looped.ngram
    clean = detect_loop("he was not an ill disposed young man", tokens=[679, 373, 407, 281, 1468, 12, 2777])
    assert not clean.is_loop and clean.reasons == ()
    assert detect_loop("short", hit_token_cap=True).reasons == ("stopped at the token cap",)
    # the same token 4 times in a row at the end is a loop; 3 times is not
    assert detect_loop("x", tokens=[5, 9, 9, 9, 9]).is_loop
    assert not detect_loop("x", tokens=[5, 9, 9, 9]).is_loop


def test_compression_ratio_threshold_catches_long_repetition_inside_text():
    text = "I think that " + "we should go " * 12 + "home now please."
    assert compression_ratio(text) > 2.4
    check = detect_loop(text)
    assert check.is_loop and any("compression ratio" in r for r in check.reasons)
    assert compression_ratio("a normal sentence without any repetition at all") < 2.4
