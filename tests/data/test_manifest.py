"""The manifest: write/read round trip, the minimal hand-written form, bad files, and one
reader (the same column names and formats) for validate, train, ACFT, eval and verify."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.data.data_helpers import write_clip
from whisper_tune.data.build import validate_manifest
from whisper_tune.data.manifest import COLUMN_ALIASES, ManifestRow, read_manifest, write_manifest
from whisper_tune.errors import DataError
from whisper_tune.evaluation.eval import load_clips


def test_round_trip_is_sorted_relative_and_deterministic(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    rows = [
        ManifestRow("b", audio / "b.wav", 'She said "hi", then left', 1.23456, 44_100, 2, "spk 1", "en"),
        ManifestRow("a/ü", audio / "sub" / "ü.flac", "naïve café — 東京", 0.5, 16_000, 1),
    ]
    out = tmp_path / "data" / "m.csv"
    assert write_manifest(rows, out) == out
    raw = out.read_bytes()
    assert raw.decode("utf-8").splitlines()[1].startswith("a/ü,../audio/sub/ü.flac,")
    assert b"\r" not in raw and raw.endswith(b"\n")
    back = read_manifest(out)
    assert [r.id for r in back] == ["a/ü", "b"]
    assert back[1] == ManifestRow("b", audio / "b.wav", 'She said "hi", then left', 1.235, 44_100, 2, "spk 1", "en")
    assert back[0].speaker is None and back[0].language is None and back[0].audio.is_absolute()
    write_manifest(list(reversed(rows)), tmp_path / "data" / "m2.csv")
    assert (tmp_path / "data" / "m2.csv").read_bytes() == raw


def test_minimal_form_reads_facts_from_audio_headers(tmp_path: Path) -> None:
    write_clip(tmp_path / "clips" / "x.wav", 1.5, rate=22_050, channels=2)
    (tmp_path / "m.csv").write_text("file,transcript,note\nclips/x.wav,hello there,ignored\n", encoding="utf-8")
    (row,) = read_manifest(tmp_path / "m.csv")
    assert row.id == "clips/x" and row.text == "hello there"
    assert (row.sample_rate, row.channels) == (22_050, 2)
    assert row.duration == pytest.approx(1.5, abs=1e-4)


def test_reads_the_shared_evaluation_manifest(real_clips_dir: Path) -> None:
    table = real_clips_dir / "manifest.csv"
    rows = read_manifest(table)
    with open(table, encoding="utf-8", newline="") as handle:
        expected = list(csv.DictReader(handle))
    assert len(rows) == len(expected) == 43
    for row, record in zip(rows, expected, strict=True):
        assert row.audio == table.parent / record["file"] and row.text == record["text"]
        assert row.duration == pytest.approx(float(record["duration_s"]), abs=2e-3)
        assert row.sample_rate == 16_000 and row.channels == 1


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"audio,words\nx.wav,hi\n", r"line 1: .*has no text column"),
        (b"audio,text\nx.wav,hi,extra\n", r"line 2: 3 fields but the header has 2"),
        (b"audio,text\n,hello\n", r"line 2: column 'audio' is empty"),
        (b"audio,text\nx.wav,  \n", r"line 2: column 'text' .*empty"),
        (
            b"id,audio,text,duration,sample_rate,channels\na,x.wav,hi,long,16000,1\n",
            r"line 2: column 'duration': 'long'",
        ),
        (b"audio,text\nx.wav,caf\xe9\n", r"line 2: column 'text' is not UTF-8"),
        (b"audio,text\nmissing.wav,hello\n", r"line 2: column 'audio': .*missing.wav: no such file"),
    ],
)
def test_bad_manifests_name_file_line_and_column(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as info:
        read_manifest(path)
    assert str(path) in str(info.value)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such manifest"):
        read_manifest(tmp_path / "none.csv")


# --- one reader: every column alias and table format through validate and the loaders -------

_ALIAS_CASES = [(field, alias) for field, aliases in COLUMN_ALIASES.items() for alias in aliases]
_VALUES = {"id": "clip-7", "speaker": "alice", "language": "de", "text": "hello there my friend"}


def _table(path: Path, columns: dict[str, str], fmt: str) -> Path:
    if fmt == "jsonl":
        path.write_text(json.dumps(columns) + "\n", encoding="utf-8")
    else:
        sep = "\t" if fmt == "tsv" else ","
        path.write_text(sep.join(columns) + "\n" + sep.join(columns.values()) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("field", "alias"), _ALIAS_CASES, ids=[f"{f}={a}" for f, a in _ALIAS_CASES])
def test_every_column_alias_reads_alike_in_validate_train_and_eval(tmp_path: Path, field: str, alias: str) -> None:
    write_clip(tmp_path / "clips" / "x.wav", 2.0)
    names = {name: aliases[0] for name, aliases in COLUMN_ALIASES.items()} | {field: alias}
    values = {"audio": "clips/x.wav", **_VALUES}
    table = _table(tmp_path / "m.csv", {names[name]: values[name] for name in COLUMN_ALIASES}, "csv")

    report, _ = validate_manifest(table)  # `manifest validate`
    assert (report.kept, report.problems) == (1, [])
    (row,) = read_manifest(table)  # train and ACFT
    (clip,) = load_clips(table)  # eval and verify
    assert row.audio == tmp_path / "clips" / "x.wav" and row.duration == pytest.approx(2.0, abs=1e-3)
    assert (row.id, row.text, row.speaker, row.language) == ("clip-7", _VALUES["text"], "alice", "de")
    assert (clip.id, clip.text, clip.language) == ("clip-7", _VALUES["text"], "de")


@pytest.mark.parametrize("fmt", ["csv", "tsv", "jsonl"])
def test_every_table_format_validates_and_loads(tmp_path: Path, fmt: str) -> None:
    write_clip(tmp_path / "x.wav", 1.5)
    table = _table(tmp_path / f"m.{fmt}", {"path": "x.wav", "sentence": "one two three"}, fmt)
    report, _ = validate_manifest(table)
    assert (report.kept, report.problems) == (1, [])
    (row,) = read_manifest(table)
    assert (row.id, row.text, row.audio) == ("x", "one two three", tmp_path / "x.wav")
