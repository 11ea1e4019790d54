"""``whisper-tune eval``: WER, CER and repetition loops of a model on a manifest."""

from __future__ import annotations

import argparse
import json

from whisper_tune.cli.console import result_console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a model (HF or a GGML file) on a manifest: WER, CER, repetition loops",
        description=(
            "Decode every clip of a manifest (greedy, no temperature fallback, no timestamps) and score "
            "it against its transcript after Whisper's text normalization: corpus WER and CER, and clips "
            "caught in a repetition loop. --audio-ctx runs the encoder on a shortened context like "
            "whisper.cpp's audio_ctx: 'futo' is FUTO Keyboard's ceil(samples/320)+32 with a floor of 160, "
            "'futo+N' the same offset N without the floor (FUTO Voice Input: futo+32), a number a fixed "
            "context; both backends support it, so their numbers compare."
        ),
    )
    parser.add_argument("model", metavar="MODEL",
                        help="model spec for --backend hf; a GGML .bin file for --backend whispercpp")
    parser.add_argument("--data", required=True, metavar="MANIFEST", help="manifest CSV with audio and text columns")
    parser.add_argument("--backend", choices=("hf", "whispercpp"), default="hf", help="decoder (default: hf)")
    parser.add_argument("--audio-ctx", default=None, metavar="CTX",
                        help="full (default, or the --as preset's), futo, futo+N or N")
    parser.add_argument("--language", default=None,
                        help="language code for multilingual models, for every clip (default: each clip's language in "
                             "the manifest, else detected)")
    parser.add_argument("--beam-size", type=int, default=None,
                        help="1 = greedy (default, or the --as preset's); FUTO Keyboard uses 5")
    from whisper_tune.cli.verify import add_deployment_arguments

    add_deployment_arguments(parser, runtimes=False)
    parser.add_argument("--runtime", choices=("current", "1.5"), default="current",
                        help="whisper.cpp for --backend whispercpp: 1.8.5 (current) or the 1.5 generation FUTO's "
                             "apps vendor (installed on first use in whisper-tune's cache folder)")
    parser.add_argument("--timeout", type=float, default=None, metavar="S",
                        help="time limit for whisper.cpp in seconds (default: 60 + 30 per clip)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="whisper.cpp threads (default: half the machine's cores, 1 to 4; results depend on it)")
    parser.add_argument("--report", default=None, metavar="DIR", help="write eval.json and eval.md here")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.deploy import deployment_options, get_preset, resolve_prompt
    from whisper_tune.evaluation.eval import evaluate
    from whisper_tune.whispercpp.runtimes import resolve_runtimes

    prompt = resolve_prompt(args.glossary, args.prompt)
    runtime = resolve_runtimes(args.runtime)[0] if args.backend == "whispercpp" else None
    flash_attn = False
    if args.preset:
        preset = get_preset(args.preset)
        options = deployment_options(preset, args.model, args.backend, prompt, args.beam_size, args.language)
        audio_ctx, flash_attn = args.audio_ctx or preset.audio_ctx, preset.flash_attn and args.runtime == "current"
    else:
        options = deployment_options(None, args.model, args.backend, prompt, args.beam_size, args.language)
        audio_ctx = args.audio_ctx or "full"
    report = evaluate(args.model, args.data, args.backend, audio_ctx, options,
                      report_dir=args.report, timeout=args.timeout, n_threads=args.threads, runtime=runtime,
                      flash_attn=flash_attn)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _print(report)
    return 0


def _print(report) -> None:
    from rich.table import Table

    table = Table("id", "ctx", "WER", "CER", "loop", "hypothesis", title=f"{report.model} ({report.backend})")
    for row in report.rows:
        table.add_row(row.id, str(row.audio_ctx or "full"), f"{row.wer:.1%}", f"{row.cer:.1%}",
                      "yes" if row.loop else "", _short(row.hypothesis))
    console = result_console()
    console.print(table)
    t = report.totals()
    console.print(f"audio context {report.audio_ctx}: WER {t['wer']:.2%}, CER {t['cer']:.2%}, loops {t['loops']}/"
                  f"{t['clips']}, {t['seconds']:.1f} s for {t['audio_seconds']:.1f} s of audio "
                  f"(RTF {t['real_time_factor']:.3f})", markup=False)


def _short(text: str, limit: int = 100) -> str:
    """A loop's hypothesis runs to hundreds of words; the report files keep it whole."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
