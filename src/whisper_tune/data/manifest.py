"""The manifest file: one CSV row per clip (audio path, transcript, header facts).

Format (UTF-8, ``\\n`` line ends, RFC 4180 quoting, rows sorted by ``id``)::

    id,audio,text,duration,sample_rate,channels,speaker,language
    alice/001,clips/alice/001.wav,Hello there.,2.500,44100,1,alice,en

``audio`` is relative to the manifest's folder (so a dataset folder can be moved or copied
to another machine as a whole); ``duration`` is in seconds with millisecond precision;
``speaker`` and ``language`` are empty when unknown. :func:`read_manifest` also accepts the
minimal hand-written form with only an audio column and a text column, under any of the
names in :data:`COLUMN_ALIASES`, as CSV, TSV or JSONL; the missing facts are then read from
the audio headers. Other columns are ignored, so a CSV kept with the audio reads as is.

This module is the only reader and writer of manifests: ``manifest validate`` (through
:func:`read_table` and :data:`COLUMN_ALIASES`, in :mod:`whisper_tune.data.sources`) and
train, ACFT, eval and verify (through :func:`read_manifest`) accept the same files.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from whisper_tune.audio import audio_info
from whisper_tune.errors import AudioError, DataError
from whisper_tune.fileio import atomic_write_text

log = logging.getLogger(__name__)

#: Columns written by :func:`write_manifest`, in order.
COLUMNS: tuple[str, ...] = ("id", "audio", "text", "duration", "sample_rate", "channels", "speaker", "language")
#: Header names accepted for each field, first match wins: the one table every reader of a
#: manifest or a data table uses (Common Voice, NeMo, audiofolder and Kaldi-export names).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "audio": ("audio", "path", "file", "file_name", "filename", "audio_filepath", "wav"),
    "text": ("text", "sentence", "transcript", "transcription"),
    "id": ("id",),
    "speaker": ("speaker", "speaker_id", "client_id"),
    "language": ("language", "lang", "locale"),
}
#: A parsed table row: (line number, the record or the reason it cannot be parsed).
TableRecord = tuple[int, dict[str, object] | str]


@dataclass(frozen=True)
class ManifestRow:
    """One clip of a manifest.

    ``audio`` is absolute once read from a manifest; ``duration`` (seconds), ``sample_rate``
    and ``channels`` are what the audio file's header says (before resampling to 16 kHz).
    """

    id: str
    audio: Path
    text: str
    duration: float
    sample_rate: int
    channels: int
    speaker: str | None = None
    language: str | None = None


def write_manifest(rows: Iterable[ManifestRow], path: str | os.PathLike[str]) -> Path:
    """Write ``rows`` to ``path`` atomically; returns the path written.

    Rows are sorted by ``id`` so the same clips always give the same bytes; audio paths are
    written relative to the manifest's folder with ``/`` separators.
    """
    target = Path(path)
    base = _absolute(target).parent
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in sorted(rows, key=lambda r: r.id):
        writer.writerow(
            [
                row.id,
                _relative_posix(Path(row.audio), base),
                row.text,
                f"{row.duration:.3f}",
                str(int(row.sample_rate)),
                str(int(row.channels)),
                row.speaker or "",
                row.language or "",
            ]
        )
    atomic_write_text(target, buffer.getvalue())
    return target


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestRow]:
    """Read a manifest written by :func:`write_manifest`, or a minimal ``audio,text`` table.

    Audio paths come back absolute (resolved against the manifest's folder). Raises
    :class:`DataError` naming the file, line and column of the first problem.
    """
    file = Path(path)
    if not file.exists():
        raise DataError(f"{file}: no such manifest; build one with `whisper-tune manifest build`")
    if not file.is_file():
        raise DataError(f"{file}: is not a file; expected a manifest CSV")
    header, records = read_table(file)
    columns = {name: _pick(header, aliases) for name, aliases in COLUMN_ALIASES.items()}
    for required in ("audio", "text"):
        if columns[required] is None:
            raise DataError(
                f"{file}: line 1: the header {header} has no {required} column ("
                + "|".join(COLUMN_ALIASES[required]) + "); a manifest needs at least `audio,text` "
                "(write one with `whisper-tune manifest build`)"
            )
    full = all(name in header for name in ("duration", "sample_rate", "channels"))
    base = _absolute(file).parent
    rows: list[ManifestRow] = []
    for line_no, record in records:
        where = f"{file}: line {line_no}"
        if isinstance(record, str):
            raise DataError(f"{where}: {record}")
        rows.append(_parse_row(where, record, columns, base, full))
    return rows


def _parse_row(
    where: str, record: dict[str, object], columns: dict[str, str | None], base: Path, full: bool
) -> ManifestRow:
    values = {name: cell_text(record, column) for name, column in columns.items()}
    bad = [columns[name] for name, value in values.items() if has_undecodable(value)]
    if bad:
        raise DataError(f"{where}: column {bad[0]!r} is not UTF-8 text; save the manifest as UTF-8")
    audio_col, text_col = columns["audio"], columns["text"]
    if not values["audio"]:
        raise DataError(f"{where}: column {audio_col!r} is empty; expected the path of an audio file")
    audio = Path(os.path.normpath(base / values["audio"]))
    if not values["text"]:
        raise DataError(f"{where}: column {text_col!r} (the transcript) is empty; fill it or remove the row")
    clip_id = values["id"] or _default_id(values["audio"])
    if full:
        duration = _number(where, "duration", cell_text(record, "duration"), float)
        sample_rate = _number(where, "sample_rate", cell_text(record, "sample_rate"), int)
        channels = _number(where, "channels", cell_text(record, "channels"), int)
    else:
        # The minimal form: the header of the audio file supplies the facts.
        try:
            info = audio_info(audio)
        except AudioError as exc:
            raise DataError(f"{where}: column {audio_col!r}: {exc}") from exc
        duration, sample_rate, channels = info.duration, info.sample_rate, info.channels
    return ManifestRow(
        id=clip_id,
        audio=audio,
        text=values["text"],
        duration=float(duration),
        sample_rate=int(sample_rate),
        channels=int(channels),
        speaker=values["speaker"] or None,
        language=values["language"] or None,
    )


def has_undecodable(text: str) -> bool:
    """True when ``text`` was decoded with surrogateescape from bytes that are not UTF-8."""
    return any("\udc80" <= ch <= "\udcff" for ch in text)


def cell_text(record: dict[str, object], column: str | None) -> str:
    """A table cell as stripped text ("" for a missing column or value)."""
    if column is None:
        return ""
    value = record.get(column)
    return "" if value is None else str(value).strip()


def read_table(table: Path) -> tuple[list[str], list[TableRecord]]:
    """(header, [(line number, record or the reason it cannot be parsed)]) of a CSV, TSV or
    JSONL file (by suffix; anything else is read as CSV). Bytes that are not UTF-8 are kept
    (surrogateescape) so that only the rows holding them are reported, not the whole table
    refused (see :func:`has_undecodable`)."""
    try:
        raw = table.read_bytes()
    except OSError as exc:
        raise DataError(f"{table}: cannot read ({exc.strerror})") from exc
    text = raw.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    if table.suffix.lower() == ".jsonl":
        return _jsonl_records(table, text)
    delimiter = "\t" if table.suffix.lower() == ".tsv" else ","
    # Common Voice TSVs contain bare quotes inside sentences: read TSV without quoting.
    reader = csv.reader(
        io.StringIO(text, newline=""),
        delimiter=delimiter,
        quoting=csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL,
    )
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise DataError(f"{table}: the file is empty; expected a header line with path and text columns") from None
    except csv.Error as exc:
        raise DataError(f"{table}: line 1: not a valid {table.suffix} header ({exc})") from exc
    if len(header) < 2:
        raise DataError(
            f"{table}: line 1: found {len(header)} column(s) {header}; expected at least a path and a text "
            f"column separated by {'tabs' if delimiter == chr(9) else 'commas'}"
        )
    records: list[TableRecord] = []
    while True:
        line_no = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            records.append((line_no, f"not valid CSV ({exc})"))
            continue
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            records.append((line_no, f"{len(values)} fields but the header has {len(header)}; "
                                     "quote fields that contain commas"))
            continue
        records.append((line_no, dict(zip(header, values, strict=True))))
    return header, records


def _jsonl_records(table: Path, text: str) -> tuple[list[str], list[TableRecord]]:
    header: list[str] = []
    records: list[TableRecord] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append((number, f"not valid JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(record, dict):
            records.append((number, "expected a JSON object per line"))
            continue
        header.extend(k for k in record if k not in header)
        records.append((number, record))
    if not records:
        raise DataError(f"{table}: the file holds no JSON lines; expected one object per line with path and text")
    return header, records


def _pick(header: list[str], names: tuple[str, ...]) -> str | None:
    return next((name for name in names if name in header), None)


def _number(where: str, column: str, value: str, kind: type) -> float | int:
    try:
        number = kind(value.strip())
    except ValueError:
        raise DataError(f"{where}: column {column!r}: {value!r} is not a {kind.__name__}") from None
    if number < 0 or (kind is int and number == 0):
        raise DataError(f"{where}: column {column!r}: {value!r} must be positive")
    return number


def _default_id(audio_text: str) -> str:
    """The id of a row of a hand-written manifest: its audio path without the suffix."""
    posix = audio_text.replace("\\", "/")
    stem, dot, suffix = posix.rpartition(".")
    return stem if dot and "/" not in suffix else posix


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def _relative_posix(audio: Path, base: Path) -> str:
    """``audio`` relative to ``base`` (may climb with ``..``), with ``/`` separators."""
    absolute = _absolute(audio)
    try:
        relative = os.path.relpath(absolute, base)
    except ValueError:  # different drive on Windows: keep it absolute
        return absolute.as_posix()
    return Path(relative).as_posix()
