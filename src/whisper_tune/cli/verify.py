"""``whisper-tune verify``: prove a GGML file transcribes like the model it came from."""

from __future__ import annotations

import argparse
import json

from whisper_tune.cli.console import result_console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "verify",
        help="check a GGML file's integrity, load it in whisper.cpp and compare its transcripts with the model's",
        description=(
            "Verify a whisper.cpp GGML file against the model it was exported from: integrity first (the "
            "file's structure, types and header against the reference config), then whisper.cpp loads it "
            "in a separate process with a time limit (a crash, abort or hang is a failed verdict, with "
            "whisper.cpp's log), then both decode the same clips the same way (greedy, no fallback, no "
            "timestamps). Passes when whisper.cpp's WER exceeds the reference's by at most --max-wer-delta "
            "(against each other when there are no transcripts). --short-audio adds FUTO's dynamic audio "
            "contexts and a verdict for FUTO Voice Input. Exit status 0: pass; 1: fail; 2: bad input."
        ),
    )
    parser.add_argument("ggml_file", metavar="GGML_FILE", help="the exported ggml-*.bin file")
    parser.add_argument("--reference", required=True, metavar="MODEL",
                        help="the model it was exported from (HF folder, adapter folder, embedded:tiny.en, ...)")
    parser.add_argument("audio", nargs="*", metavar="AUDIO",
                        help="audio files, right after GGML_FILE (a .txt beside each is its transcript); or use --data")
    parser.add_argument("--data", metavar="MANIFEST", help="manifest CSV of clips with transcripts")
    parser.add_argument("--max-wer-delta", type=float, default=None, metavar="X",
                        help="largest allowed WER increase as a fraction (default 0.02 = 2 points)")
    parser.add_argument("--report", default=None, metavar="DIR", help="write verify.json and verify.md here")
    parser.add_argument("--short-audio", action="store_true",
                        help="also decode with FUTO's dynamic contexts and judge loops and WER blow-ups")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="time limit per whisper.cpp run in seconds (default: 60 + 30 per clip)")
    parser.add_argument("--language", default=None,
                        help="language code for multilingual models, for every clip (without --as the default is "
                             "each clip's language in the manifest, else the language in the reference's generation "
                             "config, else each decoder detects it)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="whisper.cpp threads (default: half the machine's cores, 1 to 4; results depend on it)")
    add_deployment_arguments(parser, runtimes=True)
    parser.add_argument("--whisper-cli", default=None, metavar="PATH",
                        help="with --as: also run your own whisper-cli build with the same parameters")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def add_deployment_arguments(parser: argparse.ArgumentParser, runtimes: bool) -> None:
    """--as, --glossary, --prompt, --beam-size and (verify) --runtime; shared with eval."""
    from whisper_tune.deploy import PRESETS

    parser.add_argument("--as", dest="preset", choices=tuple(PRESETS), default=None,
                        help="decode as this client does: " + "; ".join(f"{p.name}: {p.description}"
                                                                          for p in PRESETS.values()))
    parser.add_argument("--glossary", default=None, metavar="TERMS.txt",
                        help="one term per line: the prompt becomes FUTO's '(Glossary: w1, w2, ...)'")
    parser.add_argument("--prompt", default=None, metavar="TEXT", help="an initial prompt (at most 224 tokens)")
    if runtimes:
        parser.add_argument("--runtime", choices=("current", "1.5", "both"), default="current",
                            help="with --as: whisper.cpp 1.8.5 (current), the 1.5 generation FUTO's apps vendor "
                                 "(installed on first use in whisper-tune's cache folder), or both. The verdict is "
                                 "the one of the runtime the preset's client ships (1.5 for FUTO's apps); the "
                                 "others are reported as advice")
        parser.add_argument("--beam-size", type=int, default=None, metavar="N",
                            help="with --as: override the preset's beam size (1 = greedy)")


def run(args: argparse.Namespace) -> int:
    from whisper_tune.errors import DataError, VerificationFailed
    from whisper_tune.transcribe import DecodeOptions
    from whisper_tune.verify.verify import DEFAULT_MAX_WER_DELTA, verify

    if bool(args.data) == bool(args.audio):
        raise DataError("give the clips to verify with either --data MANIFEST or audio files (one of the two)")
    if args.preset:
        return _run_deployed(args)
    if args.runtime != "current" or args.whisper_cli or args.glossary or args.prompt or args.beam_size:
        raise DataError("--runtime, --whisper-cli, --glossary, --prompt and --beam-size go with --as PRESET "
                        "(futo-keyboard, futo-voice or whisper-cli)")
    delta = DEFAULT_MAX_WER_DELTA if args.max_wer_delta is None else args.max_wer_delta
    report = verify(args.ggml_file, args.reference, args.data or args.audio, max_wer_delta=delta,
                    report_dir=args.report, short_audio=args.short_audio, timeout=args.timeout,
                    options=DecodeOptions(language=args.language), n_threads=args.threads)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(report)
    if not report.passed:
        raise VerificationFailed(f"{report.ggml_file.name}: verification failed at {report.stage}: {report.reason}")
    return 0


def _run_deployed(args: argparse.Namespace) -> int:
    from whisper_tune.deploy import get_preset, resolve_prompt
    from whisper_tune.errors import VerificationFailed
    from whisper_tune.verify.deployed import DEFAULT_DEPLOYED_MAX_WER_DELTA, verify_deployed
    from whisper_tune.verify.verify import _as_clips
    from whisper_tune.whispercpp.cli import check_whisper_cli
    from whisper_tune.whispercpp.runtimes import resolve_runtimes

    preset = get_preset(args.preset)
    prompt = resolve_prompt(args.glossary, args.prompt)
    cli = check_whisper_cli(args.whisper_cli) if args.whisper_cli else None  # bad input before any work
    clips = _as_clips(args.data or args.audio)
    runtimes: list = resolve_runtimes(args.runtime)
    if cli is not None:
        runtimes.append(cli)
    delta = DEFAULT_DEPLOYED_MAX_WER_DELTA if args.max_wer_delta is None else args.max_wer_delta
    report = verify_deployed(args.ggml_file, args.reference, clips, preset, runtimes, prompt=prompt,
                             beam_size=args.beam_size, language=args.language, max_wer_delta=delta,
                             report_dir=args.report, timeout=args.timeout)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.to_markdown())
    if not report.passed:
        raise VerificationFailed(f"{report.ggml_file.name} as {preset.name}: {report.reason}")
    return 0


def _print(report) -> None:
    from rich.table import Table

    console = result_console()
    for label, value in (("family", report.family), ("language", report.language)):
        if value:
            console.print(f"{label}: {value}", markup=False)
    if report.clips:
        table = Table("id", "same", "whisper.cpp", "reference model", title=str(report.ggml_file.name))
        for c in report.clips:
            table.add_row(c.id, "yes" if c.identical else "no", c.ggml_text, c.model_text)
        console.print(table)
        console.print(f"whisper.cpp WER {_pct(report.ggml_wer)}, reference WER {_pct(report.model_wer)}, "
                      f"against each other {_pct(report.cross_wer)}; identical tokens {_pct(report.exact_match_rate)}; "
                      f"real-time factor {report.real_time_factor:.3f}; file {report.file_size / 1e6:.1f} MB",
                      markup=False)
    for problem in report.problems:
        console.print(f"problem: {problem}", markup=False)
    if report.short_audio:
        table = Table("audio_ctx", "WER", "loops", "FUTO uses it", title="short audio")
        for r in report.short_audio:
            table.add_row(r.audio_ctx, f"{r.wer:.1%}", f"{r.loops}/{r.clips}", "yes" if r.deployed else "")
        console.print(table)
        console.print(("safe" if report.short_audio_safe else "NOT safe") + " for FUTO Voice Input: "
                      + report.short_audio_reason, markup=False)
    if report.passed:
        console.print(f"PASS: {report.reason}", markup=False)


def _pct(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"
