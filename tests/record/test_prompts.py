"""Prompts from a word list: carrier phrases of several lengths, held-out sentences, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from whisper_tune.errors import ConfigError, DataError
from whisper_tune.record.prompts import (
    MAX_TERM_WORDS,
    TRAIN,
    VALIDATION,
    build_prompts,
    load_templates,
    read_sentences,
    read_terms,
    term_in,
    term_slugs,
)

TERMS = ["Kubernetes", "kubectl", "PostgreSQL", "nginx", "Grafana", "Istio", "etcd", "Redis"]


def write(path: Path, data: str | bytes) -> Path:
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def test_read_terms_skips_blanks_comments_and_duplicates(tmp_path: Path) -> None:
    terms = write(tmp_path / "t.txt", "\ufeffKubernetes\n\n# my list\n  kubectl   get \nKUBERNETES\nFUTO Voice\n")
    assert read_terms(terms) == ["Kubernetes", "kubectl get", "FUTO Voice"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "is empty"),
        ("\n# only a comment\n   \n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file (a NUL byte at offset 8)"),
        (b"caf\xe9\n", "invalid UTF-8 at byte 3"),
        ("ok\n" + " ".join(["word"] * (MAX_TERM_WORDS + 1)) + "\n", "line 2: 11 words"),
    ],
)
def test_bad_terms_files_name_the_problem(tmp_path: Path, content: str | bytes, expected: str) -> None:
    path = write(tmp_path / "terms.txt", content)
    with pytest.raises(DataError, match=r"terms\.txt") as error:
        read_terms(path)
    assert expected in str(error.value)


def test_a_missing_terms_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read the terms file"):
        read_terms(tmp_path / "absent.txt")


def test_a_term_of_ten_words_is_accepted(tmp_path: Path) -> None:
    term = " ".join(["word"] * MAX_TERM_WORDS)
    assert read_terms(write(tmp_path / "t.txt", term)) == [term]


def test_each_term_is_prompted_alone_short_and_in_a_sentence() -> None:
    prompts = build_prompts(TERMS, load_templates(), per_term=3)
    train = [p for p in prompts if p.split == TRAIN]
    assert len(train) == 3 * len(TERMS)
    for term in TERMS:
        mine = [p for p in train if p.term == term]
        assert [p.kind for p in mine] == ["alone", "short", "sentence"]
        assert mine[0].text == term
        assert all(term in p.text for p in mine)
        assert len(mine[1].text.split()) < len(mine[2].text.split())
    # Terms do not all share one carrier phrase.
    assert len({p.text.replace(p.term, "") for p in train if p.kind == "sentence"}) == len(TERMS)


def test_some_terms_are_held_out_in_new_sentences() -> None:
    templates = load_templates()
    prompts = build_prompts(TERMS, templates, per_term=5)
    val = [p for p in prompts if p.split == VALIDATION]
    assert len(val) == 2  # a quarter of 8 terms
    assert all(p.kind == "heldout" and p.term in p.text for p in val)
    train_carriers = {p.text.replace(p.term, "{term}") for p in prompts if p.split == TRAIN}
    assert not train_carriers & {p.text.replace(p.term, "{term}") for p in val}
    # The choice depends on the terms, not their order in the file.
    reordered = build_prompts(TERMS[::-1], templates, per_term=5)
    assert {p.term for p in reordered if p.split == VALIDATION} == {p.term for p in val}


def test_prompts_are_stable_and_ids_unique() -> None:
    first = build_prompts(TERMS, load_templates(), per_term=4, sentences=["Deploy kubectl today"])
    again = build_prompts(TERMS, load_templates(), per_term=4, sentences=["Deploy kubectl today"])
    assert first == again
    assert len({p.id for p in first}) == len(first)
    assert first[-1].id == "sentence-001" and first[-1].term == "kubectl" and first[-1].kind == "user"


def test_per_term_outside_the_templates_is_refused() -> None:
    templates = load_templates()
    most = len(templates.alone) + len(templates.short) + len(templates.sentence)
    assert len([p for p in build_prompts(["x"], templates, per_term=most) if p.split == TRAIN]) == most
    for bad in (0, most + 1):
        with pytest.raises(ConfigError, match=f"`per_term` {bad}: expected 1 to {most}"):
            build_prompts(["x"], templates, per_term=bad)


def test_sentences_file(tmp_path: Path) -> None:
    path = write(tmp_path / "s.txt", "Ship it with kubectl.\n\nShip it with kubectl.\nHello there\n")
    assert read_sentences(path) == ["Ship it with kubectl.", "Hello there"]
    with pytest.raises(DataError, match="sentences file is empty"):
        read_sentences(write(tmp_path / "empty.txt", "\n"))


def test_term_in_matches_whole_words_only() -> None:
    assert term_in("Restart Redis now", ["Redis"]) == "Redis"
    assert term_in("Redistribute it", ["Redis"]) == ""
    assert term_in("Use C++ here", ["C++"]) == "C++"


def test_slugs_are_safe_and_unique() -> None:
    slugs = term_slugs(["Müller", "C++", "C--", "日本", "kubectl get pods"])
    assert slugs["Müller"] == "muller"
    assert slugs["kubectl get pods"] == "kubectl-get-pods"
    assert slugs["C++"] != slugs["C--"] and slugs["C++"].startswith("c-")
    assert slugs["日本"].startswith("term-")
    assert all(s.replace("-", "").isalnum() and s.isascii() for s in slugs.values())


def test_user_templates_replace_the_built_in_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.yaml",
        "alone: ['{term}']\nshort: ['say {term}']\n"
        "sentence: ['I like {term} a lot.']\nheldout: ['Never {term} again.']\n",
    )
    prompts = build_prompts(["tea"], load_templates(path), per_term=3)
    assert [p.text for p in prompts] == ["tea", "say tea", "I like tea a lot.", "Never tea again."]


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            "alone: ['{term}']\nshort: ['a {term}']\nsentence: ['b {term}']\nheldout: ['c {term}']\nextra: []\n",
            "unknown key(s) extra",
        ),
        ("alone: ['{term}']\nshort: ['a {term}']\nsentence: ['b {term}']\n", "'heldout' must be a non-empty list"),
        (
            "alone: ['{term}']\nshort: ['no placeholder']\nsentence: ['b {term}']\nheldout: ['c {term}']\n",
            "exactly once",
        ),
        (
            "alone: ['{term}']\nshort: ['a {term}']\nsentence: ['b {term}']\nheldout: ['b {term}']\n",
            "also training phrases",
        ),
        ("- just a list\n", "expected a mapping"),
        ("alone: [\n", "not valid YAML"),
    ],
)
def test_bad_templates_name_the_problem(tmp_path: Path, yaml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=r"t\.yaml") as error:
        load_templates(write(tmp_path / "t.yaml", yaml_text))
    assert expected in str(error.value)
