"""``whisper-tune manifest build|validate``: turn recordings + transcripts into a checked manifest."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from whisper_tune.cli.console import result_console

if TYPE_CHECKING:
    from whisper_tune.data.report import Report
    from whisper_tune.data.validate import Limits

BUILD_EPILOG = """\
sources (each SOURCE is one of):
  FOLDER                 audio files + same-stem .txt transcripts (same folder, recursively,
                         or under --transcripts DIR at the same relative path)
  TABLE.csv|.tsv|.jsonl  rows with an audio path (relative to the table) and a text column
  FOLDER/metadata.csv    a Hugging Face audiofolder (file_name + text)
  FOLDER/wav.scp + text  a Kaldi data folder (utt2spk gives speakers)
  FOLDER (save_to_disk)  a saved Hugging Face dataset with audio + text/sentence columns
  hf:NAME                a Hugging Face hub dataset (audio is written as wav beside OUT)

writes OUT (with --split: the train part), OUT.<name>.csv per split, OUT.report.json.
clips with a problem are left out and listed in the report; --strict makes any an error.

example:
  whisper-tune manifest build recordings/ -o data/train.csv --split val=0.1
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "manifest",
        help="build or validate a manifest (audio + transcripts) for training",
        description="Build a checked manifest from your recordings, or validate an existing one.",
    )
    commands = parser.add_subparsers(dest="manifest_command", metavar="SUBCOMMAND", title="subcommands")
    _register_build(commands)
    _register_validate(commands)
    parser.set_defaults(handler=lambda args: _no_subcommand(parser))


def _register_build(commands: argparse._SubParsersAction) -> None:
    build = commands.add_parser(
        "build",
        help="pair audio with transcripts, check every clip, write manifest(s) and a report",
        description="Pair audio with transcripts, check every clip and write a manifest.",
        epilog=BUILD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    build.add_argument("sources", nargs="+", metavar="SOURCE", help="folder, table, dataset folder or hf:NAME")
    build.add_argument("-o", "--output", required=True, type=Path, metavar="OUT.csv", help="manifest to write")
    build.add_argument("--transcripts", type=Path, metavar="DIR", help="folder of transcripts, if not beside the audio")
    build.add_argument("--text-ext", default=".txt", metavar="EXT", help="transcript file extension (default .txt)")
    build.add_argument(
        "--split", metavar="SPEC", help="deterministic splits, e.g. val=0.1,test=0.1 (train gets the rest)"
    )
    build.add_argument("--seed", type=int, default=0, help="seed of the split hash (default 0)")
    build.add_argument(
        "--audio-dir",
        type=Path,
        metavar="DIR",
        help="base of relative audio paths in tables and wav.scp (default: their folder)",
    )
    build.add_argument(
        "--root",
        type=Path,
        metavar="DIR",
        help="audio must lie inside DIR (default: each source's folder, or --audio-dir)",
    )
    build.add_argument(
        "--path-column",
        metavar="NAME",
        help="table column with the audio path (default: audio|path|file|file_name|...)",
    )
    build.add_argument(
        "--text-column", metavar="NAME", help="table column with the transcript (default: text|sentence|transcript|...)"
    )
    build.add_argument(
        "--id-column", metavar="NAME", help="table column with a unique clip id (default: id, else the path)"
    )
    build.add_argument(
        "--speaker-column", metavar="NAME", help="table column with the speaker (default: speaker|speaker_id|client_id)"
    )
    build.add_argument(
        "--language-column", metavar="NAME", help="table column with the language (default: language|lang|locale)"
    )
    build.add_argument("--language", metavar="CODE", help="language of clips that do not name one (e.g. en)")
    build.add_argument(
        "--speaker-from-dir", action="store_true", help="in folders, the first sub-folder names the speaker"
    )
    build.add_argument(
        "--hf-split", metavar="NAME", help="split of a Hugging Face dataset (needed when it has several)"
    )
    build.add_argument("--hf-config", metavar="NAME", help="configuration of a hub dataset")
    _add_check_options(build)


def _register_validate(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate",
        help="check every clip of a manifest and report problems",
        description=(
            "Check every clip of a manifest; writes MANIFEST.validation.json beside it "
            "(e.g. data/train.validation.json)."
        ),
    )
    validate.add_argument("manifest", type=Path, metavar="MANIFEST", help="manifest CSV to check")
    validate.add_argument("--root", type=Path, metavar="DIR", help="report audio paths outside this folder")
    _add_check_options(validate)


def _add_check_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strict", action="store_true", help="any problem is an error (non-zero exit)")
    parser.add_argument("--acft", action="store_true", help="ACFT limits: clips over 29 s are problems (else 30 s)")
    parser.add_argument("--min-duration", type=float, metavar="S", help="shortest clip in seconds (default 0.2)")
    parser.add_argument(
        "--silence-db", type=float, metavar="DB", help="RMS level below which a clip is silent (default -60)"
    )
    parser.set_defaults(handler=_handle)


def _no_subcommand(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _handle(args: argparse.Namespace) -> int:
    from whisper_tune.data.validate import Limits
    from whisper_tune.errors import StrictDataError

    limits = Limits.for_use(args.acft, args.min_duration, args.silence_db)
    try:
        if args.manifest_command == "build":
            return _build(args, limits)
        return _validate(args, limits)
    except StrictDataError as exc:  # show the problem table before main prints the error
        _print_problems(exc.report)
        raise


def _build(args: argparse.Namespace, limits: Limits) -> int:
    from whisper_tune.data.build import build_manifest
    from whisper_tune.data.sources import SourceOptions

    options = SourceOptions(
        transcripts=args.transcripts,
        text_ext=args.text_ext,
        audio_dir=args.audio_dir,
        root=args.root,
        path_column=args.path_column,
        text_column=args.text_column,
        id_column=args.id_column,
        speaker_column=args.speaker_column,
        language_column=args.language_column,
        language=args.language,
        speaker_from_dir=args.speaker_from_dir,
        hf_split=args.hf_split,
        hf_config=args.hf_config,
    )
    result = build_manifest(args.sources, args.output, options, limits, args.split, args.seed, args.strict)
    _print_problems(result.report)
    written = ", ".join(f"{name} {result.report.splits[name]} -> {path}" for name, path in result.manifests.items())
    print(f"kept {result.report.kept} of {result.report.checked} clip(s): {written}; report: {result.report_file}")
    return 0


def _validate(args: argparse.Namespace, limits: Limits) -> int:
    from whisper_tune.data.build import validate_manifest

    report, report_file = validate_manifest(args.manifest, limits, args.root, args.strict)
    _print_problems(report)
    print(f"{report.kept} of {report.checked} clip(s) pass; {len(report.problems)} problem(s); report: {report_file}")
    return 0


def _print_problems(report: Report) -> None:
    from whisper_tune.data.report import report_table

    if report.problems:
        result_console().print(report_table(report))
