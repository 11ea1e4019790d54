"""The other layouts: separate transcripts, TSV/JSONL, audiofolder, Kaldi, Hugging Face datasets."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.data.data_helpers import write_clip
from whisper_tune.data.build import build_manifest
from whisper_tune.data.manifest import read_manifest
from whisper_tune.data.sources import SourceOptions, describe_source
from whisper_tune.errors import DataError


def reasons(result) -> dict[str, str]:
    return {Path(p.file).name: p.reason for p in result.report.problems}


def test_transcripts_in_a_separate_folder(tmp_path: Path) -> None:
    write_clip(tmp_path / "audio" / "day1" / "a.wav", 1.0, seed=1)
    write_clip(tmp_path / "audio" / "day2" / "b.flac", 1.0, seed=2)
    write_clip(tmp_path / "audio" / "day2" / "c.wav", 1.0, seed=3)
    (tmp_path / "text" / "day1").mkdir(parents=True)
    (tmp_path / "text" / "day1" / "a.lab").write_text("alpha", encoding="utf-8")
    (tmp_path / "text" / "b.lab").write_text("bravo", encoding="utf-8")  # flat: matched by stem
    (tmp_path / "text" / "zulu.lab").write_text("zulu", encoding="utf-8")
    options = SourceOptions(transcripts=tmp_path / "text", text_ext="lab", speaker_from_dir=True, language="en")
    result = build_manifest([tmp_path / "audio"], tmp_path / "m.csv", options)
    rows = read_manifest(tmp_path / "m.csv")
    assert [(r.id, r.text, r.speaker, r.language) for r in rows] == [
        ("day1/a", "alpha", "day1", "en"),
        ("day2/b", "bravo", "day2", "en"),
    ]
    assert reasons(result) == {"c.wav": "missing_transcript", "zulu.lab": "transcript_without_audio"}


def test_common_voice_style_tsv(tmp_path: Path) -> None:
    write_clip(tmp_path / "clips" / "cv1.mp3", 1.0, seed=1, subtype="MPEG_LAYER_III")
    write_clip(tmp_path / "clips" / "cv2.wav", 1.0, seed=2)
    (tmp_path / "clips" / "cv3.m4a").write_bytes(b"\0\0\0 ftypM4A ")
    (tmp_path / "train.tsv").write_text(
        "client_id\tpath\tsentence\tlocale\n"
        'u1\tcv1.mp3\tHe said "yes" loudly\ten\n'
        "u2\tcv2.wav\tSecond\tde\n"
        "u2\tcv3.m4a\tThird\tde\n",
        encoding="utf-8",
    )
    options = SourceOptions(audio_dir=tmp_path / "clips")
    result = build_manifest([tmp_path / "train.tsv"], tmp_path / "m.csv", options)
    rows = {r.id: r for r in read_manifest(tmp_path / "m.csv")}
    assert rows["cv1"].text == 'He said "yes" loudly' and rows["cv1"].speaker == "u1" and rows["cv1"].language == "en"
    assert rows["cv2"].language == "de" and set(rows) == {"cv1", "cv2"}
    problem = result.report.problems[0]
    assert (Path(problem.file).name, problem.reason) == ("cv3.m4a", "unreadable_audio") and "ffmpeg" in problem.detail


def test_jsonl_with_named_columns(tmp_path: Path) -> None:
    write_clip(tmp_path / "x.wav", 1.0)
    (tmp_path / "data.jsonl").write_text(
        '{"key": "k1", "wav_file": "x.wav", "words": "from json", "who": "z"}\n{not json\n',
        encoding="utf-8",
    )
    options = SourceOptions(path_column="wav_file", text_column="words", id_column="key", speaker_column="who")
    result = build_manifest([tmp_path / "data.jsonl"], tmp_path / "m.csv", options)
    (row,) = read_manifest(tmp_path / "m.csv")
    assert (row.id, row.text, row.speaker) == ("k1", "from json", "z")
    assert [(p.file, p.reason) for p in result.report.problems] == [(f"{tmp_path / 'data.jsonl'}:2", "bad_row")]
    with pytest.raises(DataError, match=r"no column 'nope' \(given by `text_column`\)"):
        build_manifest(
            [tmp_path / "data.jsonl"], tmp_path / "m.csv", SourceOptions(path_column="wav_file", text_column="nope")
        )


def test_audiofolder_reports_unlisted_audio(tmp_path: Path) -> None:
    write_clip(tmp_path / "af" / "one.wav", 1.0, seed=1)
    write_clip(tmp_path / "af" / "two.wav", 1.0, seed=2)
    (tmp_path / "af" / "metadata.csv").write_text("file_name,transcription\none.wav,first one\n", encoding="utf-8")
    assert describe_source(tmp_path / "af") == "audiofolder"
    result = build_manifest([tmp_path / "af"], tmp_path / "m.csv")
    assert [(r.id, r.text) for r in read_manifest(tmp_path / "m.csv")] == [("one", "first one")]
    assert reasons(result) == {"two.wav": "missing_transcript"}


def test_kaldi_data_folder(tmp_path: Path) -> None:
    kaldi = tmp_path / "kaldi"
    write_clip(kaldi / "wav" / "u1.wav", 1.0, seed=1)
    write_clip(kaldi / "wav" / "u2.wav", 1.0, seed=2)
    (kaldi / "wav.scp").write_text(
        "u1 wav/u1.wav\nu2 wav/u2.wav\nu3 sox in.wav -t wav - |\nu1 wav/u2.wav\n", encoding="utf-8"
    )
    (kaldi / "text").write_bytes("u1 hello kaldi\nu2 caf\xe9\nu3 piped\nu4 no audio\n".encode("latin-1"))
    (kaldi / "utt2spk").write_text("u1 spk1\nu2 spk2\n", encoding="utf-8")
    assert describe_source(kaldi) == "kaldi"
    result = build_manifest([kaldi], tmp_path / "m.csv")
    assert [(r.id, r.text, r.speaker) for r in read_manifest(tmp_path / "m.csv")] == [("u1", "hello kaldi", "spk1")]
    assert sorted((p.id, p.reason) for p in result.report.problems) == [
        ("u1", "duplicate_id"),
        ("u2", "transcript_not_utf8"),
        ("u3", "unreadable_audio"),
        ("u4", "transcript_without_audio"),
    ]
    (kaldi / "segments").write_text("s1 u1 0 1\n", encoding="utf-8")
    with pytest.raises(DataError, match="segments"):
        build_manifest([kaldi], tmp_path / "m.csv")


def test_saved_hugging_face_dataset_is_written_out_as_wav(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    clips = [write_clip(tmp_path / "src" / f"{i}.wav", 1.0 + i, rate=22_050, seed=i) for i in range(2)]
    encoded = [{"bytes": clip.read_bytes(), "path": None} for clip in clips] + [{"bytes": b"junk", "path": None}]
    table = datasets.Dataset.from_dict(
        {"audio": encoded, "sentence": ["first", "second", "third"], "id": ["a/1", "b", "c"]}
    ).cast_column("audio", datasets.Audio(decode=False))
    table.save_to_disk(str(tmp_path / "saved"))
    assert describe_source(tmp_path / "saved") == "huggingface-saved"
    result = build_manifest([tmp_path / "saved"], tmp_path / "out" / "m.csv")
    rows = read_manifest(tmp_path / "out" / "m.csv")
    assert [(r.id, r.text, r.sample_rate) for r in rows] == [("a_1", "first", 22_050), ("b", "second", 22_050)]
    assert rows[0].audio == tmp_path / "out" / "m_audio" / "saved" / "data" / "a_1.wav"
    original, _ = sf.read(clips[1], dtype="float32")
    written, _ = sf.read(rows[1].audio, dtype="float32")
    assert np.abs(written - original).max() <= 1 / 16_000
    assert [(p.id, p.reason) for p in result.report.problems] == [("c", "unreadable_audio")]
    assert sf.info(io.BytesIO(rows[0].audio.read_bytes())).format == "WAV"


def test_describe_source_refuses_unknown_files(tmp_path: Path) -> None:
    (tmp_path / "notes.docx").write_bytes(b"x")
    with pytest.raises(DataError, match=r"not a table; expected a \.csv, \.tsv or \.jsonl"):
        describe_source(tmp_path / "notes.docx")
    assert describe_source("hf:someone/speech") == "huggingface-hub"
