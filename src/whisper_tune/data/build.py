"""``manifest build`` and ``manifest validate``: sources -> checked manifest(s) + report.

Output of a build with ``-o data/train.csv``:

* ``data/train.csv`` - the manifest (with ``--split``: the train part only);
* ``data/train.val.csv``, ``data/train.test.csv`` - one manifest per named split;
* ``data/train.report.json`` - every problem (file, reason, detail), counts and settings
  (``manifest validate data/train.csv`` writes ``data/train.validation.json``);
* ``data/train_audio/`` - wav files decoded from Hugging Face datasets (only for those).

Separate files rather than a ``split`` column, so the trainer takes ``--train data/train.csv
--val data/train.val.csv`` and each file is a complete manifest on its own.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from whisper_tune.data.manifest import write_manifest
from whisper_tune.data.report import Report, report_path, write_report
from whisper_tune.data.sources import Scan, SourceOptions, describe_source, scan_source, scan_table
from whisper_tune.data.splits import TRAIN, assign_splits, parse_split_spec
from whisper_tune.data.validate import Limits, check_candidates
from whisper_tune.errors import DataError, StrictDataError

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """What a build wrote: manifests per split name (``train`` is ``OUT``), and the report."""

    report: Report
    report_file: Path
    manifests: dict[str, Path] = field(default_factory=dict)


def split_manifest_path(output: Path, name: str) -> Path:
    """``data/train.csv`` + ``val`` -> ``data/train.val.csv``; ``train`` -> ``output`` itself."""
    return output if name == TRAIN else output.with_name(f"{output.stem}.{name}{output.suffix}")


def build_manifest(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    options: SourceOptions | None = None,
    limits: Limits | None = None,
    split: str | None = None,
    seed: int = 0,
    strict: bool = False,
) -> BuildResult:
    """Read ``sources``, check every clip, write the manifest(s) and the report.

    Clips with a problem are left out and reported. With ``strict`` any problem is an error
    (:class:`DataError`) and no manifest is written, only the report.
    """
    if not sources:
        raise DataError("no sources given; name at least one folder, table or dataset")
    out = Path(output)
    if out.suffix.lower() != ".csv":
        raise DataError(f"-o {out}: a manifest is a .csv file; name it like data/train.csv")
    fractions = parse_split_spec(split) if split else {}
    limits = limits or Limits()
    limits.check()
    options = options or SourceOptions()
    options.extract_dir = out.parent / f"{out.stem}_audio"
    kinds = [describe_source(s) for s in sources]  # fails fast on a missing source
    scan = Scan()
    id_base = _common_folder([Path(s) for s, kind in zip(sources, kinds, strict=True) if kind == "folder"])
    for source in sources:
        scan.extend(scan_source(source, options, id_base))
    rows, problems = check_candidates(scan.candidates, limits)
    report = Report(
        manifest=str(out),
        checked=len(scan.candidates) + len(scan.problems),
        kept=len(rows),
        problems=scan.problems + problems,
        settings=_settings(sources, kinds, options, limits, split, seed),
    )
    report_file = write_report(report, report_path(out))
    if strict and report.problems:
        raise StrictDataError(
            f"{len(report.problems)} problem(s) found and `strict` is set; nothing written but the report "
            f"{report_file} ({_summary(report)})",
            report,
        )
    if not rows:
        raise DataError(f"no usable clips in {', '.join(map(str, sources))}; see {report_file} ({_summary(report)})")
    parts = assign_splits(rows, fractions, seed) if fractions else {TRAIN: rows}
    result = BuildResult(report, report_file)
    for name, part in parts.items():
        path = split_manifest_path(out, name)
        if not part:
            log.warning("split %s is empty (too few clips or speakers); %s not written", name, path)
            continue
        result.manifests[name] = write_manifest(part, path)
    report.splits = {name: len(part) for name, part in parts.items()}
    write_report(report, report_file)
    return result


def validate_manifest(
    manifest: str | os.PathLike[str],
    limits: Limits | None = None,
    root: str | os.PathLike[str] | None = None,
    strict: bool = False,
) -> tuple[Report, Path]:
    """Check every row of an existing manifest; writes ``MANIFEST.validation.json`` beside it.

    ``root``: the folder every audio path must stay inside (not checked when None, since a
    manifest may point to audio kept elsewhere). With ``strict`` any problem raises
    :class:`DataError` after the report is written.
    """
    file = Path(manifest)
    if not file.is_file():
        raise DataError(f"{file}: no such manifest; build one with `whisper-tune manifest build`")
    limits = limits or Limits()
    limits.check()
    options = SourceOptions(path_column=None, text_column=None)
    scan = scan_table(file, options, root=Path(root) if root is not None else None)
    rows, problems = check_candidates(scan.candidates, limits)
    report = Report(
        manifest=str(file),
        checked=len(scan.candidates) + len(scan.problems),
        kept=len(rows),
        problems=scan.problems + problems,
        settings={"limits": limits.to_dict(), "root": None if root is None else str(root)},
    )
    report_file = write_report(report, report_path(file, "validation"))
    if strict and report.problems:
        raise StrictDataError(f"{file}: {len(report.problems)} problem(s) ({_summary(report)}); see {report_file}",
                              report)
    return report, report_file


def _common_folder(folders: list[Path]) -> Path | None:
    if not folders:
        return None
    return Path(os.path.commonpath([os.path.abspath(f) for f in folders]))


def _summary(report: Report) -> str:
    return ", ".join(f"{count} {reason}" for reason, count in report.counts.items()) or "no problems"


def _settings(
    sources: Sequence[str | os.PathLike[str]],
    kinds: list[str],
    options: SourceOptions,
    limits: Limits,
    split: str | None,
    seed: int,
) -> dict[str, object]:
    """The inputs of a build, recorded in its report (strings as given: machine-independent)."""
    return {
        "sources": [{"source": str(s), "layout": kind} for s, kind in zip(sources, kinds, strict=True)],
        "transcripts": None if options.transcripts is None else str(options.transcripts),
        "text_ext": options.text_ext,
        "limits": limits.to_dict(),
        "split": split,
        "seed": seed,
    }
