"""The bundled demo dataset (whisper_tune/assets/demo_dataset) and its helpers."""

from __future__ import annotations

import csv
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest

from whisper_tune.audio import SAMPLE_RATE, audio_info, load_audio
from whisper_tune.demo_data import (
    CLIP_COLUMNS,
    HELDOUT,
    SPLITS,
    TRAIN,
    demo_dataset_dir,
    demo_split_dir,
    demo_terms,
    read_terms,
    term_hits,
)
from whisper_tune.errors import AudioError, DataError

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "make_demo_dataset.py"


@pytest.fixture(scope="module")
def dataset() -> Path:
    return demo_dataset_dir()


@pytest.fixture(scope="module")
def clip_rows(dataset: Path) -> list[dict[str, str]]:
    with (dataset / "clips.csv").open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == CLIP_COLUMNS
        return list(reader)


def _stems(folder: Path, suffix: str) -> set[str]:
    return {p.stem for p in folder.iterdir() if p.suffix == suffix}


def _transcripts(split: str) -> dict[str, str]:
    folder = demo_split_dir(split)
    return {p.stem: p.read_text(encoding="utf-8").strip() for p in folder.glob("*.txt")}


# --- layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
def test_every_clip_has_a_transcript_and_vice_versa(split: str) -> None:
    folder = demo_split_dir(split)
    audio, text = _stems(folder, ".ogg"), _stems(folder, ".txt")
    assert audio == text
    assert len(audio) >= 20
    assert {p.suffix for p in folder.iterdir()} == {".ogg", ".txt"}, "stray files in the split folder"
    assert all(_transcripts(split).values()), "an empty transcript"


def test_split_sizes_and_total_size(dataset: Path) -> None:
    train, heldout = (len(_stems(demo_split_dir(s), ".ogg")) for s in (TRAIN, HELDOUT))
    assert (train, heldout) == (96, 24)
    size = sum(p.stat().st_size for p in dataset.rglob("*") if p.is_file())
    assert size < 2_000_000, f"the bundled dataset grew to {size} bytes"


def test_clips_are_16k_mono_and_1_to_10_seconds(dataset: Path) -> None:
    for path in sorted(dataset.rglob("*.ogg")):
        info = audio_info(path)
        assert (info.sample_rate, info.channels) == (SAMPLE_RATE, 1), path.name
        assert 1.0 <= info.duration <= 10.0, f"{path.name}: {info.duration:.2f} s"


def test_a_clip_decodes_to_speech_of_its_header_length(dataset: Path) -> None:
    path = next(iter(sorted((dataset / TRAIN).glob("*.ogg"))))
    samples = load_audio(path)
    assert len(samples) == audio_info(path).frames
    assert 0.05 < float(abs(samples).max()) <= 1.0  # not silence, not clipped garbage


# --- splits ----------------------------------------------------------------------------------


def test_splits_share_no_sentence() -> None:
    train, heldout = set(_transcripts(TRAIN).values()), set(_transcripts(HELDOUT).values())
    assert len(train) == 24 and len(heldout) == 12
    assert not train & heldout


def test_splits_share_no_voice(clip_rows: list[dict[str, str]]) -> None:
    voices = {split: {r["voice"] for r in clip_rows if r["split"] == split} for split in SPLITS}
    assert len(voices[TRAIN]) >= 3 and len(voices[HELDOUT]) >= 2
    assert not voices[TRAIN] & voices[HELDOUT]


def test_clip_table_matches_the_files(dataset: Path, clip_rows: list[dict[str, str]]) -> None:
    on_disk = {p.relative_to(dataset).as_posix() for p in dataset.rglob("*.ogg")}
    assert {r["file"] for r in clip_rows} == on_disk
    for row in clip_rows:
        assert row["file"].startswith(row["split"] + "/")
        text = (dataset / row["file"]).with_suffix(".txt").read_text(encoding="utf-8").strip()
        assert text == row["text"]


# --- terms -----------------------------------------------------------------------------------


def test_terms_are_listed_once_each() -> None:
    terms = demo_terms()
    assert 15 <= len(terms) <= 25
    assert len({t.lower() for t in terms}) == len(terms)
    assert "Kubernetes" in terms


@pytest.mark.parametrize("split", SPLITS)
def test_every_term_occurs_in_the_split_transcripts(split: str) -> None:
    texts = list(_transcripts(split).values())
    for term in demo_terms():
        pattern = re.compile(rf"\b{re.escape(term)}\b")
        assert any(pattern.search(t) for t in texts), f"{term!r} never occurs in {split}"


def test_term_hits_match_whole_words_case_insensitively() -> None:
    refs = ["Run kubectl on Kubernetes.", "Restart nginx.", "Nothing here."]
    hyps = ["run Kubectl, on puberty", "restart engine x", "kubectl"]
    counts = {c.term: c for c in term_hits(refs, hyps, ["kubectl", "Kubernetes", "nginx", "etcd"])}
    assert (counts["kubectl"].said, counts["kubectl"].hit) == (1, 1)  # the 3rd hyp has no reference use
    assert (counts["Kubernetes"].said, counts["Kubernetes"].hit) == (1, 0)
    assert (counts["nginx"].said, counts["nginx"].hit, counts["nginx"].rate) == (1, 0, 0.0)
    assert (counts["etcd"].said, counts["etcd"].rate) == (0, 0.0)
    assert term_hits(["Helm chart now"], ["helm  chart, now"], ["Helm chart"])[0].hit == 1
    assert term_hits(["kubectls"], ["kubectls"], ["kubectl"])[0].said == 0
    assert term_hits(["Kubernetes's API"], ["kubernetes' API"], ["Kubernetes"])[0].hit == 1


def test_term_hits_refuses_unpaired_lists() -> None:
    with pytest.raises(DataError, match="2 references but 1 hypotheses"):
        term_hits(["a", "b"], ["a"], ["a"])


def test_read_terms_refuses_duplicates_and_empty_lists(tmp_path: Path) -> None:
    (tmp_path / "dup.txt").write_text("Kafka\n# comment\nkafka\n", encoding="utf-8")
    with pytest.raises(DataError, match="listed twice"):
        read_terms(tmp_path / "dup.txt")
    (tmp_path / "empty.txt").write_text("\n# nothing\n", encoding="utf-8")
    with pytest.raises(DataError, match="no terms found"):
        read_terms(tmp_path / "empty.txt")


def test_unknown_split_is_refused() -> None:
    with pytest.raises(DataError, match="'test' does not exist"):
        demo_split_dir("test")


def test_readme_states_provenance_licence_and_stock_numbers(dataset: Path) -> None:
    readme = (dataset / "README.md").read_text(encoding="utf-8")
    assert "scripts/make_demo_dataset.py" in readme
    assert re.search(r"espeak-ng \d+\.\d+", readme)
    assert "CC0" in readme
    assert re.search(r"\| heldout \| 24 \| \d+ \| \d+\.\d \|", readme), "stock WER table missing"


# --- the generating script -------------------------------------------------------------------


@pytest.fixture(scope="module")
def script():
    if not SCRIPT.is_file():
        pytest.skip(f"{SCRIPT} is not in this checkout")
    spec = importlib.util.spec_from_file_location("make_demo_dataset", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


def test_script_plan_reproduces_the_committed_clip_table(script, clip_rows: list[dict[str, str]]) -> None:
    planned = [(c.file, c.split, c.sentence, c.voice, str(c.speed), str(c.pitch), c.text)
               for c in script.plan_clips()]
    assert planned == [tuple(r[k] for k in CLIP_COLUMNS) for r in clip_rows]
    assert [t.written for t in script.TERMS] == demo_terms()


def test_script_spoken_text_replaces_whole_terms_only(script) -> None:
    assert script.spoken_text("Use kubectl and nginx.") == "Use cube control and engine x."
    assert script.spoken_text("nginxes stay") == "nginxes stay"


# --- synthesis (in scripts/make_demo_dataset.py, not in the package) --------------------

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@needs_espeak
def test_synthesize_writes_16k_mono_speech(script, tmp_path: Path) -> None:
    out = script.synthesize("Deploy it to Kubernetes.", "en-us", 170, tmp_path / "k.wav")
    info = audio_info(out)
    assert (info.sample_rate, info.channels) == (SAMPLE_RATE, 1)
    assert 0.8 < info.duration < 4.0
    assert not list(tmp_path.glob(".*.tmp")), "atomic write left a temporary file"


@needs_espeak
def test_synthesize_refuses_unknown_voice_and_bad_ranges(script, tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="espeak-ng failed"):
        script.synthesize("hello", "xx-nonexistent", 160, tmp_path / "a.wav")
    with pytest.raises(AudioError, match="speed=20 is outside"):
        script.synthesize("hello", "en-us", 20, tmp_path / "a.wav")
    with pytest.raises(AudioError, match=r"use \.ogg or \.wav"):
        script.synthesize("hello", "en-us", 160, tmp_path / "a.mp3")
    assert not (tmp_path / "a.wav").exists()


def test_missing_espeak_is_a_clear_error(script, tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="not found on PATH; install espeak-ng"):
        script.synthesize("hello", "en-us", 160, tmp_path / "a.wav", executable="no-such-espeak-binary")
