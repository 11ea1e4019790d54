"""whisper_constants: the relations hold on real files, and no fact is stated twice in src/."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from whisper_tune import whisper_constants as wc
from whisper_tune.export.mel import mel_filters

SRC = Path(wc.__file__).resolve().parent
CONSTANTS_MODULE = Path(wc.__file__).resolve()

#: Numbers that only mean one thing in this code base: each must come from whisper_constants.
WHISPER_NUMBERS = frozenset({
    wc.ENGLISH_ONLY_VOCAB, wc.MULTILINGUAL_VOCAB, wc.MULTILINGUAL_V3_VOCAB, wc.LANGUAGE_COUNT_BASE,
    wc.N_TEXT_TOKENS, wc.N_TEXT_TOKENS - 1, wc.N_TIMESTAMP_TOKENS, wc.FULL_AUDIO_CTX, wc.N_FRAMES,
    wc.N_FFT_BINS, wc.N_TEXT_CTX, wc.SAMPLE_RATE, wc.N_SAMPLES,
})
#: Tensor names that must be spelled once.
WHISPER_STRINGS = frozenset({wc.OUTPUT_PROJECTION, wc.TOKEN_EMBEDDING})


def _defined_names(tree: ast.Module) -> set[str]:
    """Names bound by module-level (and class-level) assignments."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            names.add(node.target.id)
    return names


def _docstring_nodes(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def second_definitions(source: str, where: str) -> list[str]:
    """Every restatement of a whisper_constants fact in ``source``: a constant's name assigned
    again, one of its numbers written as a literal, or a shared tensor name spelled out."""
    tree = ast.parse(source)
    constants = {name for name in vars(wc) if name.isupper()}
    found = [f"{where}: assigns {name}" for name in sorted(_defined_names(tree) & constants)]
    docstrings = _docstring_nodes(tree)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or id(node) in docstrings:
            continue
        value = node.value
        if isinstance(value, int) and not isinstance(value, bool) and value in WHISPER_NUMBERS:
            found.append(f"{where}:{node.lineno}: the literal {value}")
        elif isinstance(value, str) and value in WHISPER_STRINGS:
            found.append(f"{where}:{node.lineno}: the literal {value!r}")
    return found


def test_no_whisper_fact_is_defined_twice_in_src():
    problems = []
    for path in sorted(SRC.rglob("*.py")):
        if path.resolve() != CONSTANTS_MODULE:
            problems += second_definitions(path.read_text(encoding="utf-8"), str(path.relative_to(SRC)))
    assert problems == [], "import these from whisper_tune.whisper_constants instead:\n" + "\n".join(problems)


@pytest.mark.parametrize(("source", "expected"), [
    ("VOCAB_SIZES = (1, 2)\n", "m.py: assigns VOCAB_SIZES"),
    ("class K:\n    FULL_AUDIO_CTX: int = 7\n", "m.py: assigns FULL_AUDIO_CTX"),
    ("def f(n):\n    return n >= 51865\n", "m.py:2: the literal 51865"),
    ("x = {'a': 3000}\n", "m.py:1: the literal 3000"),
    ("NAME = 'proj_out.weight'\n", "m.py:1: the literal 'proj_out.weight'"),
])
def test_the_scan_catches_a_second_definition(source, expected):
    assert second_definitions(source, "m.py") == [expected]


def test_the_scan_ignores_docstrings_and_other_numbers():
    source = '"""A window of 3000 frames and 1500 positions."""\ndef f():\n    """51865 tokens."""\n    return 1499\n'
    assert second_definitions(source, "m.py") == []


def test_audio_front_end_numbers():
    assert (wc.N_FRAMES, wc.FULL_AUDIO_CTX, wc.N_SAMPLES) == (3000, 1500, 480_000)
    assert wc.POSITIONS_PER_SECOND == 50
    for n_mels in wc.MEL_BINS:
        assert mel_filters(n_mels).shape == (n_mels, wc.N_FFT_BINS) == (n_mels, 201)


@pytest.mark.parametrize(("n_vocab", "multilingual", "languages"), [
    (51864, False, 99), (51865, True, 99), (51866, True, 100),
])
def test_language_count_and_timestamps_fill_the_vocabulary(n_vocab, multilingual, languages):
    assert wc.is_multilingual(n_vocab) is multilingual
    assert wc.n_languages(n_vocab) == languages
    ids = wc.special_ids(n_vocab)
    # the last timestamp token <|30.00|> is the vocabulary's last id
    assert ids.timestamp_begin + wc.N_TIMESTAMP_TOKENS - 1 == n_vocab - 1
    assert ids.translate - ids.first_language == languages


def test_special_ids_match_the_embedded_tokenizer(embedded_path):
    """tiny.en's own tokenizer.json gives every id whisper.cpp derives from n_vocab."""
    tokenizer = json.loads((embedded_path / "tokenizer.json").read_text(encoding="utf-8"))
    by_content = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    n_vocab = json.loads((embedded_path / "config.json").read_text(encoding="utf-8"))["vocab_size"]
    ids = wc.special_ids(n_vocab)
    assert n_vocab == wc.ENGLISH_ONLY_VOCAB
    assert {
        "<|endoftext|>": ids.eot, "<|startoftranscript|>": ids.sot, "<|en|>": ids.first_language,
        "<|translate|>": ids.translate, "<|transcribe|>": ids.transcribe, "<|startoflm|>": ids.start_of_lm,
        "<|startofprev|>": ids.start_of_prev, "<|nocaptions|>": ids.no_speech,
        "<|notimestamps|>": ids.no_timestamps, "<|0.00|>": ids.timestamp_begin,
    } == {name: by_content.get(name) for name in (
        "<|endoftext|>", "<|startoftranscript|>", "<|en|>", "<|translate|>", "<|transcribe|>", "<|startoflm|>",
        "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>", "<|0.00|>")}


@pytest.mark.parametrize("layout", wc.LAYOUTS, ids=lambda layout: layout.name)
def test_every_layout_is_named(layout):
    name = wc.layout_name(layout.encoder_layers, layout.decoder_layers, layout.d_model, layout.n_mels)
    # large-v1 and large-v2 share every dimension: the later release names both
    assert name == ("large-v2" if layout.name == "large-v1" else layout.name)
    assert layout.d_model % layout.attention_heads == 0


def test_unknown_dimensions_are_custom_and_pruned_decoders_keep_their_family():
    assert wc.layout_name(2, 2, 64) == "custom"
    assert wc.layout_name(4, 3, 384) == "tiny"  # tiny's encoder with a decoder no release has
    assert wc.layout_name(32, 32, 1280, wc.N_MELS_V3) == "large-v3"
    assert wc.layout_name(32, 2, 1280, wc.N_MELS_V3) == "distil-large-v3"


def test_untied_projection_rule():
    assert wc.untied_projection_problem({}, has_projection=False, tied=False) is None
    assert wc.untied_projection_problem({}, has_projection=True, tied=True) is None
    assert "incomplete" in (wc.untied_projection_problem({"tie_word_embeddings": False}, False, False) or "")
    assert "differs from the token embedding" in (wc.untied_projection_problem({}, True, False) or "")
