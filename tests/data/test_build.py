"""manifest build / validate on a folder with good clips and one clip of every problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.data.data_helpers import write_clip
from whisper_tune.data.build import build_manifest, split_manifest_path, validate_manifest
from whisper_tune.data.manifest import read_manifest
from whisper_tune.data.report import REASONS, read_report
from whisper_tune.data.validate import Limits
from whisper_tune.errors import ConfigError, DataError

GOOD = [f"good{i}" for i in range(8)]


def make_dataset(root: Path) -> tuple[Path, Path, dict[str, str]]:
    """A folder source and a CSV source; returns them and {problem file name: reason}."""
    rec = root / "rec"
    for i, name in enumerate(GOOD):
        write_clip(rec / "spk" / f"{name}.wav", 1.0 + 0.5 * i, rate=(16_000, 44_100)[i % 2], seed=i)
        (rec / "spk" / f"{name}.txt").write_text(f"  good clip\nnumber {i} \n", encoding="utf-8")
    (rec / "bad.wav").write_bytes(b"RIFF this is not audio at all" * 10)
    (rec / "bad.txt").write_text("bad audio", encoding="utf-8")
    sf.write(rec / "empty.wav", np.zeros(0, dtype=np.float32), 16_000)
    (rec / "empty.txt").write_text("empty audio", encoding="utf-8")
    write_clip(rec / "notext.wav", 1.0, seed=20)
    write_clip(rec / "blank.wav", 1.0, seed=21)
    (rec / "blank.txt").write_text(" \n\t", encoding="utf-8")
    write_clip(rec / "latin1.wav", 1.0, seed=22)
    (rec / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    write_clip(rec / "long.wav", 30.5, rate=8_000, seed=23)
    (rec / "long.txt").write_text("far too long", encoding="utf-8")
    write_clip(rec / "short.wav", 0.1, seed=24)
    (rec / "short.txt").write_text("short", encoding="utf-8")
    sf.write(rec / "silent.wav", np.zeros(16_000, dtype=np.float32), 16_000, subtype="PCM_16")
    (rec / "silent.txt").write_text("nothing", encoding="utf-8")
    shutil.copy(rec / "spk" / "good0.wav", rec / "spk" / "zcopy.wav")
    (rec / "spk" / "zcopy.txt").write_text("a copy", encoding="utf-8")
    # Same stem twice in one folder: both get the id "twin".
    write_clip(rec / "twin.flac", 1.0, seed=25)
    write_clip(rec / "twin.wav", 1.2, seed=26)
    (rec / "twin.txt").write_text("twin", encoding="utf-8")
    (rec / "orphan.txt").write_text("a transcript without audio", encoding="utf-8")

    table_dir = root / "table"
    write_clip(table_dir / "clips" / "t1.wav", 2.0, seed=30)
    write_clip(root / "outside.wav", 2.0, seed=31)
    (table_dir / "list.csv").write_text(
        "path,sentence,speaker\n"
        "clips/t1.wav,\"Hello, table\",ann\n"
        "../outside.wav,escaping,ann\n"
        "clips/nowhere.wav,missing file,bob\n"
        "clips/t1.wav,too,many,fields\n",
        encoding="utf-8",
    )
    expected = {
        "bad.wav": "unreadable_audio",
        "empty.wav": "empty_audio",
        "notext.wav": "missing_transcript",
        "blank.txt": "empty_transcript",
        "latin1.txt": "transcript_not_utf8",
        "long.wav": "too_long",
        "short.wav": "too_short",
        "silent.wav": "silent",
        "zcopy.wav": "duplicate_audio",
        "twin.wav": "duplicate_id",
        "orphan.txt": "transcript_without_audio",
        "outside.wav": "path_escapes_root",
        "nowhere.wav": "missing_audio",
        "list.csv:5": "bad_row",
    }
    return rec, table_dir / "list.csv", expected


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("build")
    rec, table, expected = make_dataset(root)
    result = build_manifest([str(rec), str(table)], root / "out" / "train.csv", split="val=0.2,test=0.1", seed=7)
    return root, rec, table, expected, result


def test_every_problem_is_reported_with_its_reason(built) -> None:
    _, _, _, expected, result = built
    found = {Path(p.file.split(":")[0]).name + (":" + p.file.split(":")[1] if ":" in p.file else ""): p.reason
             for p in result.report.problems}
    assert found == expected
    assert set(expected.values()) == set(REASONS)  # the fixture covers every reason there is
    on_disk = read_report(result.report_file)
    assert on_disk.to_dict() == result.report.to_dict()
    assert on_disk.counts == {reason: 1 for reason in REASONS}
    details = {Path(p.file.split(":")[0]).name: p.detail for p in result.report.problems}
    assert "30.50 s > 30 s" in details["long.wav"]
    assert "good0.wav" in details["zcopy.wav"]
    assert "twin.flac" in details["twin.wav"]


def test_manifest_holds_exactly_the_good_clips(built) -> None:
    root, rec, _, _, result = built
    rows = [row for path in result.manifests.values() for row in read_manifest(path)]
    assert sorted(r.id for r in rows) == sorted([f"spk/{n}" for n in GOOD] + ["twin", "clips/t1"])
    assert result.report.kept == len(rows) == 10
    assert result.report.checked == 10 + 14
    by_id = {r.id: r for r in rows}
    good3 = by_id["spk/good3"]
    assert good3.text == "good clip number 3"
    assert good3.audio == rec / "spk" / "good3.wav"
    assert good3.sample_rate == 44_100 and good3.channels == 1
    assert good3.duration == pytest.approx(2.5, abs=1e-3)
    assert by_id["twin"].audio.name == "twin.flac"
    assert by_id["clips/t1"].text == "Hello, table" and by_id["clips/t1"].speaker == "ann"
    text = (root / "out" / "train.csv").read_text(encoding="utf-8")
    assert text.startswith("id,audio,text,duration,sample_rate,channels,speaker,language\n")
    assert "../rec/spk/good" in text and "\r" not in text


def test_splits_are_files_that_partition_the_clips(built) -> None:
    root, _, _, _, result = built
    assert set(result.manifests) == {"train", "val", "test"}
    assert result.manifests["val"] == root / "out" / "train.val.csv"
    ids = {name: {r.id for r in read_manifest(path)} for name, path in result.manifests.items()}
    assert not (ids["train"] & ids["val"]) and not (ids["train"] & ids["test"]) and not (ids["val"] & ids["test"])
    assert sum(len(v) for v in ids.values()) == 10
    assert result.report.splits == {name: len(v) for name, v in ids.items()}


def test_same_sources_give_byte_identical_outputs(built) -> None:
    root, rec, table, _, first = built
    again = build_manifest([str(rec), str(table)], root / "out2" / "train.csv", split="val=0.2,test=0.1", seed=7)
    for name, path in first.manifests.items():
        assert again.manifests[name].read_bytes() == path.read_bytes()


def test_acft_limit_and_strict(built, tmp_path: Path) -> None:
    root, rec, _, _, _ = built
    clip = write_clip(tmp_path / "d" / "c.wav", 29.5, rate=8_000)
    (tmp_path / "d" / "c.txt").write_text("twenty nine and a half seconds", encoding="utf-8")
    assert build_manifest([tmp_path / "d"], tmp_path / "m.csv").report.kept == 1
    with pytest.raises(DataError, match="no usable clips"):
        build_manifest([tmp_path / "d"], tmp_path / "m2.csv", limits=Limits.for_use(acft=True))
    with pytest.raises(DataError, match=r"14 problem\(s\).*`strict` is set"):
        build_manifest([str(rec), str(root / "table" / "list.csv")], tmp_path / "s.csv", strict=True)
    assert not (tmp_path / "s.csv").exists() and (tmp_path / "s.report.json").exists()
    assert clip.exists()


def test_validate_reports_problems_of_an_existing_manifest(built, tmp_path: Path) -> None:
    _, _, _, _, result = built
    manifest = tmp_path / "m.csv"
    lines = result.manifests["train"].read_text(encoding="utf-8").splitlines()
    # Re-root the relative paths, then add a silent clip and a row whose audio is gone.
    base = result.manifests["train"].parent
    rows = [lines[0]] + [line.replace(",../", f",{base}/../", 1) for line in lines[1:]]
    sf.write(tmp_path / "quiet.wav", np.zeros(8000, dtype=np.float32), 16_000)
    rows += ["quiet,quiet.wav,hush,0.500,16000,1,,", "gone,gone.wav,vanished,1.000,16000,1,,"]
    manifest.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report, report_file = validate_manifest(manifest)
    assert report_file == tmp_path / "m.validation.json"
    assert {(Path(p.file).name, p.reason) for p in report.problems} == {
        ("quiet.wav", "silent"),
        ("gone.wav", "missing_audio"),
    }
    assert report.kept == len(lines) - 1
    with pytest.raises(DataError, match="2 problem"):
        validate_manifest(manifest, strict=True)
    escaped, _ = validate_manifest(manifest, root=tmp_path)
    assert sum(p.reason == "path_escapes_root" for p in escaped.problems) == len(lines) - 1


def test_bad_inputs_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        build_manifest([tmp_path / "nope"], tmp_path / "m.csv")
    with pytest.raises(DataError, match=r"\.csv file"):
        build_manifest([tmp_path], tmp_path / "m.txt")
    with pytest.raises(ConfigError, match="leave some for train"):
        build_manifest([tmp_path], tmp_path / "m.csv", split="val=0.5,test=0.5")
    assert split_manifest_path(Path("d/train.csv"), "val") == Path("d/train.val.csv")


def test_a_manifest_is_a_source_and_root_widens_the_escape_check(built, tmp_path: Path) -> None:
    from whisper_tune.data.sources import SourceOptions

    root, _, _, _, result = built
    train = result.manifests["train"]  # its paths climb out of out/ with ../
    with pytest.raises(DataError, match=r"no usable clips.*path_escapes_root"):
        build_manifest([train], tmp_path / "again.csv")
    again = build_manifest([train], tmp_path / "again.csv", SourceOptions(root=root))
    assert [r.id for r in read_manifest(again.manifests["train"])] == [r.id for r in read_manifest(train)]
    assert not again.report.problems
