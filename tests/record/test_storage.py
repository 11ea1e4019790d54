"""The recordings folder on disk: layout, prompts.csv, resuming, replacing takes atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from whisper_tune.errors import DataError
from whisper_tune.record.prompts import Prompt, build_prompts, load_templates
from whisper_tune.record.storage import (
    COLUMNS,
    PromptRecord,
    RecordingFolder,
    check_voice,
    read_prompt_records,
    write_prompt_records,
)

PROMPTS = build_prompts(["kubectl", "Grafana"], load_templates(), per_term=2)


def tone(seconds: float = 1.0, frequency: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * 16_000)) / 16_000
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_a_take_is_saved_as_16k_wav_txt_and_a_prompts_row(tmp_path: Path) -> None:
    folder = RecordingFolder(tmp_path / "rec", "alice")
    planned = folder.plan(PROMPTS)
    assert [p.file for p in planned][:2] == ["train/alice/kubectl-alone-1.wav", "train/alice/kubectl-short-1.wav"]
    assert not any(p.recorded for p in planned)
    val = next(p for p in planned if p.prompt.split == "val")
    assert val.file.startswith("val/alice/") and "heldout" in val.file

    saved = folder.save(planned[1], tone())
    assert saved.recorded
    wav = tmp_path / "rec" / "train" / "alice" / "kubectl-short-1.wav"
    info = sf.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype, info.frames) == (16_000, 1, "PCM_16", 16_000)
    assert wav.with_suffix(".txt").read_text(encoding="utf-8") == f"{planned[1].prompt.text}\n"
    assert read_prompt_records(folder.prompts_file) == [
        PromptRecord("train/alice/kubectl-short-1.wav", "alice", "train", "short", "kubectl", planned[1].prompt.text)
    ]
    assert sorted(p.name for p in wav.parent.iterdir()) == ["kubectl-short-1.txt", "kubectl-short-1.wav"]


def test_resuming_skips_recorded_prompts(tmp_path: Path) -> None:
    first = RecordingFolder(tmp_path, "alice")
    planned = first.plan(PROMPTS)
    first.save(planned[0], tone())
    first.save(planned[3], tone())
    again = RecordingFolder(tmp_path, "alice").plan(PROMPTS)
    assert [p.recorded for p in again] == [True, False, False, True, False]
    # Another voice in the same folder has recorded nothing.
    assert not any(p.recorded for p in RecordingFolder(tmp_path, "bob").plan(PROMPTS))


def test_a_take_whose_files_are_gone_is_asked_again(tmp_path: Path) -> None:
    folder = RecordingFolder(tmp_path, "alice")
    planned = folder.plan(PROMPTS)
    folder.save(planned[0], tone())
    (tmp_path / planned[0].file).unlink()
    assert not folder.plan(PROMPTS)[0].recorded


def test_rerecording_replaces_the_take_in_place(tmp_path: Path) -> None:
    folder = RecordingFolder(tmp_path, "alice")
    planned = folder.plan(PROMPTS)[0]
    folder.save(planned, tone(frequency=220))
    again = folder.plan(PROMPTS)[0]
    assert again.recorded and again.file == planned.file
    folder.save(again, tone(2.0, frequency=440))
    assert sf.info(str(tmp_path / planned.file)).duration == pytest.approx(2.0)
    assert len(read_prompt_records(folder.prompts_file)) == 1
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]


def test_a_failed_save_keeps_the_old_take(tmp_path: Path) -> None:
    folder = RecordingFolder(tmp_path, "alice")
    planned = folder.plan(PROMPTS)[0]
    folder.save(planned, tone())
    before = (tmp_path / planned.file).read_bytes()
    with pytest.raises(ValueError):  # soundfile refuses 3-D audio: the write fails midway
        folder.save(planned, np.zeros((2, 2, 2), np.float32))
    assert (tmp_path / planned.file).read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]
    # A first take that fails leaves no transcript without audio behind.
    second = folder.plan(PROMPTS)[1]
    with pytest.raises(ValueError):
        folder.save(second, np.zeros((2, 2, 2), np.float32))
    names = sorted(p.name for p in (tmp_path / "train" / "alice").iterdir())
    assert names == ["kubectl-alone-1.txt", "kubectl-alone-1.wav"]
    assert [r.file for r in read_prompt_records(folder.prompts_file)] == [planned.file]


def test_a_file_answering_another_text_is_never_overwritten(tmp_path: Path) -> None:
    folder = RecordingFolder(tmp_path, "alice")
    old = Prompt("kubectl-alone-1", "kubectl old text", "kubectl", "alone", "train")
    folder.save(folder.plan([old])[0], tone())
    planned = folder.plan(PROMPTS)[0]
    assert planned.file == "train/alice/kubectl-alone-1-2.wav" and not planned.recorded


def test_prompts_file_round_trip_and_bad_columns(tmp_path: Path) -> None:
    path = tmp_path / "prompts.csv"
    records = [PromptRecord("train/a/x.wav", "a", "train", "user", "", 'He said "hi", then left')]
    write_prompt_records(path, records)
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(COLUMNS)
    assert read_prompt_records(path) == records
    path.write_text("file,voice\nx.wav,a\n", encoding="utf-8")
    with pytest.raises(DataError, match="are not the prompts file's"):
        read_prompt_records(path)
    path.write_text(",".join(COLUMNS) + "\ntrain/a/x.wav,a,train\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 2: expected 6 fields"):
        read_prompt_records(path)


def test_manifest_build_reads_both_splits_without_a_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from whisper_tune.cli.main import main

    folder = RecordingFolder(tmp_path / "rec", "alice")
    planned = folder.plan(PROMPTS)
    for index in (0, 1, 2):  # two training prompts and the held-out one
        folder.save(planned[index], tone(frequency=200.0 + 50 * index))
    assert [p.prompt.split for p in planned[:3]] == ["train", "train", "val"]
    for split, count in (("train", 2), ("val", 1)):
        out = tmp_path / "data" / f"{split}.csv"
        source = str(tmp_path / "rec" / split)
        assert main(["manifest", "build", source, "--speaker-from-dir", "-o", str(out), "--strict"]) == 0
        assert f"kept {count} of {count} clip(s)" in capsys.readouterr().out
        assert out.read_text(encoding="utf-8").count(",alice,") == count


@pytest.mark.parametrize("voice", ["", ".hidden", "a/b", "../up", "x" * 65, "with space"])
def test_bad_voice_names(voice: str) -> None:
    with pytest.raises(DataError, match="`voice`"):
        check_voice(voice)


def test_an_unwritable_folder_is_refused_before_recording(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder", encoding="utf-8")
    with pytest.raises(DataError, match=r"`root` .*file/rec: cannot write there"):
        RecordingFolder(blocker / "rec", "alice")
    if os.geteuid() != 0:  # root writes anywhere; the check above covers it there
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(DataError, match="cannot write there"):
            RecordingFolder(locked, "alice")
