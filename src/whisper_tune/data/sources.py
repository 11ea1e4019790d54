"""Reading the layouts people keep speech data in, as a list of candidate clips.

Supported sources (what :func:`scan_source` detects, in this order):

* ``hf:NAME`` - a Hugging Face hub dataset (``datasets.load_dataset``);
* a folder written by ``Dataset.save_to_disk`` (``state.json`` or ``dataset_dict.json``);
* a Kaldi data folder (``wav.scp`` + ``text``, optional ``utt2spk``);
* a Hugging Face audiofolder (``metadata.csv`` or ``metadata.jsonl`` with ``file_name``);
* a ``.csv``, ``.tsv`` or ``.jsonl`` table with path and text columns;
* any other folder: audio files paired with ``.txt`` transcripts of the same stem, in the
  same folder or under ``--transcripts DIR`` at the same relative path, recursively.

A source reader never drops anything silently: a row it cannot use becomes a
:class:`~whisper_tune.data.report.Problem`. The checks that need the audio itself live in
:mod:`whisper_tune.data.validate`.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from whisper_tune.audio import write_wav
from whisper_tune.data.manifest import COLUMN_ALIASES, cell_text, has_undecodable, read_table
from whisper_tune.data.report import Problem
from whisper_tune.errors import DataError

log = logging.getLogger(__name__)

#: Audio soundfile decodes.
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff"})
#: Audio people record in that soundfile cannot decode: reported, with the fix, not ignored.
UNSUPPORTED_AUDIO_EXTENSIONS = frozenset({".m4a", ".aac", ".mp4", ".wma", ".webm", ".amr", ".3gp"})

# Column names: whisper_tune.data.manifest.COLUMN_ALIASES, the table every manifest reader uses.


@dataclass
class Candidate:
    """A clip a source proposes; ``text`` is None when the source has no usable transcript."""

    id: str
    audio: Path
    text: str | None
    origin: str
    root: Path | None = None
    speaker: str | None = None
    language: str | None = None


@dataclass
class SourceOptions:
    """How to read sources; every field is a ``manifest build`` option."""

    transcripts: Path | None = None
    text_ext: str = ".txt"
    audio_dir: Path | None = None
    #: The folder every audio path must stay inside (default: each source's own folder).
    root: Path | None = None
    path_column: str | None = None
    text_column: str | None = None
    id_column: str | None = None
    speaker_column: str | None = None
    language_column: str | None = None
    language: str | None = None
    speaker_from_dir: bool = False
    hf_split: str | None = None
    hf_config: str | None = None
    #: Where decoded Hugging Face audio is written (a folder beside the manifest).
    extract_dir: Path | None = None


@dataclass
class Scan:
    candidates: list[Candidate] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: Scan) -> None:
        self.candidates.extend(other.candidates)
        self.problems.extend(other.problems)


def clean_text(text: str) -> str:
    """One line of text: whitespace runs (newlines included) become single spaces."""
    return " ".join(text.split())


def describe_source(source: str | os.PathLike[str]) -> str:
    """The layout :func:`scan_source` will read ``source`` as (for messages and reports)."""
    text = str(source)
    if text.startswith("hf:"):
        return "huggingface-hub"
    path = Path(source)
    if not path.exists():
        raise DataError(
            f"{path}: no such file or folder; give a folder of audio, a .csv/.tsv/.jsonl table, "
            "a Kaldi or Hugging Face dataset folder, or hf:NAME for a hub dataset"
        )
    if path.is_file():
        if path.suffix.lower() in (".csv", ".tsv", ".jsonl"):
            return path.suffix.lower().lstrip(".")
        raise DataError(f"{path}: not a table; expected a .csv, .tsv or .jsonl file, or a folder")
    if (path / "state.json").is_file() or (path / "dataset_dict.json").is_file():
        return "huggingface-saved"
    if (path / "wav.scp").is_file():
        return "kaldi"
    if (path / "metadata.csv").is_file() or (path / "metadata.jsonl").is_file():
        return "audiofolder"
    return "folder"


def scan_source(source: str | os.PathLike[str], options: SourceOptions, id_base: Path | None = None) -> Scan:
    """Read one source into candidates and problems (see the module docstring)."""
    kind = describe_source(source)
    log.info("reading %s as %s", source, kind)
    if kind == "huggingface-hub":
        return scan_hf_dataset(str(source)[3:], options, hub=True)
    path = Path(source)
    if kind == "huggingface-saved":
        return scan_hf_dataset(str(path), options, hub=False)
    if kind == "kaldi":
        return scan_kaldi(path, options)
    if kind == "audiofolder":
        return scan_audiofolder(path, options)
    if kind in ("csv", "tsv", "jsonl"):
        return scan_table(path, options)
    return scan_folder(path, options, id_base or path)


# --- paired folders -------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path]:
    """Files under ``root`` in a fixed order, skipping hidden names (and our temp files)."""
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                yield Path(folder) / name


def _stem_key(path: Path, root: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def scan_folder(root: Path, options: SourceOptions, id_base: Path) -> Scan:
    """Audio files paired with transcripts of the same stem (same folder or ``--transcripts``)."""
    text_ext = _normal_ext(options.text_ext)
    text_root = options.transcripts or root
    if options.transcripts is not None and not options.transcripts.is_dir():
        raise DataError(f"`transcripts` {options.transcripts}: no such folder")
    audio_files = [
        p for p in _walk(root) if p.suffix.lower() in AUDIO_EXTENSIONS | UNSUPPORTED_AUDIO_EXTENSIONS
    ]
    text_files = [p for p in _walk(text_root) if p.suffix.lower() == text_ext]
    by_key = {_stem_key(p, text_root): p for p in text_files}
    by_stem: dict[str, list[Path]] = {}
    for p in text_files:
        by_stem.setdefault(p.stem, []).append(p)
    scan = Scan()
    used: set[Path] = set()
    for audio in audio_files:
        key = _stem_key(audio, root)
        transcript = by_key.get(key)
        if transcript is None and options.transcripts is not None and len(by_stem.get(audio.stem, [])) == 1:
            # A separate transcript folder may be flat while the audio is nested.
            transcript = by_stem[audio.stem][0]
        clip_id = Path(os.path.relpath(audio, id_base)).with_suffix("").as_posix()
        speaker = Path(key).parts[0] if options.speaker_from_dir and len(Path(key).parts) > 1 else None
        if transcript is None:
            why = "no transcript"
            if len(by_stem.get(audio.stem, [])) > 1:
                why = f"{len(by_stem[audio.stem])} transcripts named {audio.stem}{text_ext} in different folders"
            scan.problems.append(
                Problem(str(audio), "missing_transcript", f"{why}; expected {text_root / (key + text_ext)}", clip_id)
            )
            continue
        used.add(transcript)
        text, problem = read_transcript(transcript, clip_id)
        if problem is not None:
            scan.problems.append(problem)
            continue
        scan.candidates.append(
            Candidate(clip_id, audio, text, str(transcript), options.root or root, speaker, options.language)
        )
    for transcript in text_files:
        if transcript not in used:
            scan.problems.append(
                Problem(
                    str(transcript),
                    "transcript_without_audio",
                    f"no audio file named {transcript.stem}.* beside it or at the same path under {root}",
                )
            )
    return scan


def read_transcript(path: Path, clip_id: str | None = None) -> tuple[str, Problem | None]:
    """A transcript file as one line of text, or the problem that prevents it."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return "", Problem(
            str(path), "transcript_not_utf8", f"invalid UTF-8 at byte {exc.start}; re-save it as UTF-8", clip_id
        )
    text = clean_text(text)
    if not text:
        return "", Problem(str(path), "empty_transcript", "the file holds no words", clip_id)
    return text, None


def _normal_ext(ext: str) -> str:
    ext = ext.strip().lower()
    return ext if ext.startswith(".") else f".{ext}"


# --- tables: CSV, TSV, JSONL, audiofolder metadata, manifests -----------------------------------


def scan_audiofolder(folder: Path, options: SourceOptions) -> Scan:
    """A Hugging Face audiofolder: ``metadata.csv``/``.jsonl`` with ``file_name`` + text.

    Audio files in the folder that the metadata does not list are reported as missing a
    transcript, since the audiofolder loader would have used them without one.
    """
    table = folder / "metadata.csv"
    if not table.is_file():
        table = folder / "metadata.jsonl"
    column_options = SourceOptions(**{**options.__dict__, "path_column": options.path_column or "file_name"})
    scan = scan_table(table, column_options)
    listed = {os.path.normpath(c.audio) for c in scan.candidates}
    listed |= {os.path.normpath(p.file) for p in scan.problems}
    for audio in _walk(folder):
        if audio.suffix.lower() in AUDIO_EXTENSIONS and os.path.normpath(audio) not in listed:
            clip_id = audio.relative_to(folder).with_suffix("").as_posix()
            scan.problems.append(Problem(str(audio), "missing_transcript", f"not listed in {table.name}", clip_id))
    return scan


def scan_table(table: Path, options: SourceOptions, root: Path | bool | None = True) -> Scan:
    """Rows of a CSV, TSV or JSONL file; audio paths are relative to the table's folder.

    ``root`` is the folder audio must stay inside (``True``: ``--audio-dir`` or the table's
    folder; ``None``: no such check, as when validating a finished manifest).
    """
    header, records = read_table(table)
    path_col = _column(table, header, options.path_column, COLUMN_ALIASES["audio"], "audio path", "`path_column`")
    text_col = _column(table, header, options.text_column, COLUMN_ALIASES["text"], "transcript", "`text_column`")
    id_col = _optional_column(table, header, options.id_column, COLUMN_ALIASES["id"], "`id_column`")
    speaker_col = _optional_column(table, header, options.speaker_column, COLUMN_ALIASES["speaker"],
                                   "`speaker_column`")
    language_col = _optional_column(table, header, options.language_column, COLUMN_ALIASES["language"],
                                    "`language_column`")
    base = options.audio_dir or table.parent
    dataset_root = (options.root or base) if root is True else (root or None)
    scan = Scan()
    for line_no, record in records:
        where = f"{table}:{line_no}"
        if isinstance(record, str):  # a row that could not be parsed: the reason
            scan.problems.append(Problem(where, "bad_row", record))
            continue
        path_text = cell_text(record, path_col)
        clip_id = cell_text(record, id_col) if id_col else ""
        clip_id = clip_id or _id_from_path(path_text)
        if has_undecodable(path_text) or has_undecodable(clip_id):
            scan.problems.append(Problem(where, "bad_row", "the audio path or id is not UTF-8 text"))
            continue
        if not path_text:
            scan.problems.append(Problem(where, "bad_row", f"column {path_col!r} (audio path) is empty", clip_id))
            continue
        audio = Path(os.path.normpath(base / path_text))
        raw_text = cell_text(record, text_col)
        if has_undecodable(raw_text):
            scan.problems.append(
                Problem(str(audio), "transcript_not_utf8", f"{where}: column {text_col!r} is not UTF-8", clip_id)
            )
            continue
        _add_record(scan, record, clip_id, audio, clean_text(raw_text), where, dataset_root,
                    (text_col, speaker_col, language_col), options)
    return scan


def _id_from_path(path_text: str) -> str:
    posix = path_text.replace("\\", "/").lstrip("./")
    return str(Path(posix).with_suffix("").as_posix()) if posix else ""


def _column(
    table: Path, header: list[str], wanted: str | None, defaults: tuple[str, ...], what: str, option: str
) -> str:
    if wanted is not None:
        if wanted not in header:
            raise DataError(f"{table}: no column {wanted!r} (given by {option}); its columns are {header}")
        return wanted
    found = next((name for name in defaults if name in header), None)
    if found is None:
        raise DataError(
            f"{table}: no {what} column; looked for {'|'.join(defaults)} in {header}; name it with {option}"
        )
    return found


def _optional_column(
    table: Path, header: list[str], wanted: str | None, defaults: tuple[str, ...], option: str
) -> str | None:
    if wanted is not None:
        if wanted not in header:
            raise DataError(f"{table}: no column {wanted!r} (given by {option}); its columns are {header}")
        return wanted
    return next((name for name in defaults if name in header), None)


# --- Kaldi ----------------------------------------------------------------------------------


def scan_kaldi(folder: Path, options: SourceOptions) -> Scan:
    """A Kaldi data folder: ``wav.scp`` (id path), ``text`` (id words), ``utt2spk``.

    Relative paths in ``wav.scp`` are taken relative to ``--audio-dir`` (default: the data
    folder). Piped commands and ``segments`` files are not supported (reported / refused).
    """
    if (folder / "segments").exists():
        raise DataError(
            f"{folder / 'segments'}: Kaldi segments (several utterances per recording) are not supported; "
            "cut the utterances into their own files first"
        )
    if not (folder / "text").is_file():
        raise DataError(f"{folder}: has wav.scp but no `text` file; a Kaldi data folder needs both")
    base = options.audio_dir or folder
    scan = Scan()
    wavs = _kaldi_pairs(folder / "wav.scp", scan)
    texts = _kaldi_pairs(folder / "text", scan)
    speakers: dict[str, str] = {}
    if (folder / "utt2spk").is_file():
        speakers = {utt: speaker for utt, (_, speaker) in _kaldi_pairs(folder / "utt2spk", scan).items()}
    for utt, (where, value) in wavs.items():
        if value.endswith("|"):
            scan.problems.append(
                Problem(
                    where,
                    "unreadable_audio",
                    "piped commands in wav.scp are not supported; write the audio to files",
                    utt,
                )
            )
            continue
        audio = Path(os.path.normpath(base / value))
        if utt not in texts:
            scan.problems.append(
                Problem(str(audio), "missing_transcript", f"no line for {utt!r} in {folder / 'text'}", utt)
            )
            continue
        text_where, raw_text = texts[utt]
        if has_undecodable(raw_text) or has_undecodable(utt):
            scan.problems.append(Problem(text_where, "transcript_not_utf8", "the line is not UTF-8 text", utt))
            continue
        text = clean_text(raw_text)
        if not text:
            scan.problems.append(Problem(str(audio), "empty_transcript", f"{text_where}: no words", utt))
            continue
        scan.candidates.append(
            Candidate(utt, audio, text, text_where, options.root or base, speakers.get(utt), options.language)
        )
    for utt, (where, _) in texts.items():
        if utt not in wavs:
            scan.problems.append(Problem(where, "transcript_without_audio", f"no entry for {utt!r} in wav.scp", utt))
    return scan


def _kaldi_pairs(path: Path, scan: Scan) -> dict[str, tuple[str, str]]:
    """``key rest-of-line`` files as {key: (``file:line``, rest)}.

    The first line of a repeated key is used; each repeat is reported as a duplicate id.
    """
    text = path.read_bytes().decode("utf-8", errors="surrogateescape")
    pairs: dict[str, tuple[str, str]] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        key, _, rest = line.strip().partition(" ")
        where = f"{path}:{number}"
        if key in pairs:
            scan.problems.append(
                Problem(where, "duplicate_id", f"{key!r} is already on {pairs[key][0]}; this line is ignored", key)
            )
            continue
        pairs[key] = (where, rest.strip())
    return pairs


# --- Hugging Face datasets -----------------------------------------------------------------


_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def scan_hf_dataset(name: str, options: SourceOptions, hub: bool) -> Scan:
    """A saved (``save_to_disk``) or hub dataset with an ``audio`` column and a text column.

    The audio is decoded with soundfile (no torchcodec needed) and written as wav files
    under ``options.extract_dir``, one per row, atomically; the manifest points at those.
    """
    try:
        import datasets
    except ImportError as exc:  # an optional dependency
        raise DataError("reading Hugging Face datasets needs `pip install datasets`") from exc
    # build_manifest sets it before reading a hub dataset: its absence is a bug, not bad input.
    assert options.extract_dir is not None, "scan_hf_dataset needs options.extract_dir"
    try:
        loaded = (
            datasets.load_dataset(name, options.hf_config, split=options.hf_split)
            if hub
            else datasets.load_from_disk(name)
        )
    except Exception as exc:  # datasets raises many types for a missing or broken dataset
        raise DataError(f"{name}: cannot load the Hugging Face dataset ({type(exc).__name__}: {exc})") from exc
    split_name = options.hf_split or "data"
    if isinstance(loaded, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        splits = sorted(loaded.keys())
        if options.hf_split is None and len(splits) != 1:
            raise DataError(f"{name}: the dataset has splits {splits}; choose one with `hf_split`")
        split_name = options.hf_split or splits[0]
        if split_name not in loaded:
            raise DataError(f"{name}: no split {split_name!r}; it has {splits}")
        loaded = loaded[split_name]
    columns = list(loaded.column_names)
    if "audio" not in columns:
        raise DataError(f"{name}: no `audio` column; its columns are {columns}")
    text_col = _column(Path(name), columns, options.text_column, COLUMN_ALIASES["text"], "transcript", "`text_column`")
    id_col = _optional_column(Path(name), columns, options.id_column, COLUMN_ALIASES["id"], "`id_column`")
    speaker_col = _optional_column(Path(name), columns, options.speaker_column, COLUMN_ALIASES["speaker"],
                                   "`speaker_column`")
    language_col = _optional_column(Path(name), columns, options.language_column, COLUMN_ALIASES["language"],
                                    "`language_column`")
    if isinstance(loaded.features.get("audio"), datasets.Audio):
        loaded = loaded.cast_column("audio", datasets.Audio(decode=False))
    out_dir = options.extract_dir / _SAFE.sub("_", Path(name).name or "dataset") / split_name
    scan = Scan()
    for index, record in enumerate(loaded):
        raw_id = cell_text(record, id_col) if id_col else ""
        clip_id = _SAFE.sub("_", raw_id) if raw_id else f"{split_name}-{index:06d}"
        where = f"{name}[{split_name}][{index}]"
        audio = out_dir / f"{clip_id}.wav"
        problem = _write_hf_audio(record.get("audio"), audio, where, clip_id)
        if problem is not None:
            scan.problems.append(problem)
            continue
        _add_record(scan, record, clip_id, audio, clean_text(cell_text(record, text_col)), where, out_dir,
                    (text_col, speaker_col, language_col), options)
    return scan


def _write_hf_audio(value: object, target: Path, where: str, clip_id: str) -> Problem | None:
    """Decode one ``audio`` cell (bytes, a path or an array) and write it as wav."""
    import numpy as np
    import soundfile as sf

    try:
        if isinstance(value, dict) and value.get("array") is not None:
            samples, rate = np.asarray(value["array"], dtype=np.float32), int(value["sampling_rate"])
        elif isinstance(value, dict) and value.get("bytes"):
            samples, rate = sf.read(io.BytesIO(value["bytes"]), dtype="float32")
        elif isinstance(value, dict) and value.get("path") and Path(value["path"]).is_file():
            samples, rate = sf.read(value["path"], dtype="float32")
        else:
            return Problem(where, "missing_audio", "the audio cell holds neither samples, bytes nor a file", clip_id)
    except Exception as exc:  # soundfile raises several types for undecodable bytes
        return Problem(where, "unreadable_audio", f"cannot decode the audio ({type(exc).__name__}: {exc})", clip_id)
    if samples.size == 0:
        return Problem(where, "empty_audio", "the audio holds no samples", clip_id)
    write_wav(target, samples, rate)
    return None


def _add_record(
    scan: Scan,
    record: dict,
    clip_id: str,
    audio: Path,
    text: str,
    where: str,
    root: Path | None,
    columns: tuple[str, str | None, str | None],
    options: SourceOptions,
) -> None:
    """A table or dataset row becomes a candidate, or an empty-transcript problem."""
    text_col, speaker_col, language_col = columns
    if not text:
        scan.problems.append(Problem(str(audio), "empty_transcript", f"{where}: column {text_col!r} is empty", clip_id))
        return
    speaker = (cell_text(record, speaker_col) or None) if speaker_col else None
    language = (cell_text(record, language_col) if language_col else "") or options.language
    scan.candidates.append(Candidate(clip_id, audio, text, where, root, speaker, language))
