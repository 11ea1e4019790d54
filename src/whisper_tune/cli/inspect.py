"""``whisper-tune inspect``: what a whisper.cpp GGML file holds and what is wrong with it."""

from __future__ import annotations

import argparse
import json


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show a GGML model file's header, tensor types and every inconsistency whisper.cpp would trip on",
        description=(
            "Read a whisper.cpp GGML model file and print its hyper-parameters, ftype, tensor count, bytes "
            "per tensor type, and every problem found: wrong tensor types or shapes, missing or unknown "
            "tensors, truncated data, trailing bytes, no tensors, an unknown ftype, a vocabulary size "
            "whisper.cpp would misread. Exit status 0: no errors; 1: errors found."
        ),
    )
    parser.add_argument("file", metavar="FILE", help="a ggml-*.bin model file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--check-values", action="store_true",
                        help="also read every tensor and report NaN/inf values (reads the whole file)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.formats.ggml import summarize_ggml

    report = summarize_ggml(args.file, check_values=args.check_values)
    print(json.dumps(report, indent=2) if args.json else _text(report))
    return 1 if any(p["severity"] == "error" for p in report["problems"]) else 0


def _text(report: dict) -> str:
    hp = report["hparams"]
    lines = [
        f"{report['path']}: whisper.cpp GGML, {report['size_bytes']:,} bytes",
        f"  {report['family']}",
        f"  dtype {report['dtype'] or 'unknown'} (ftype {hp['ftype']}), whisper.cpp model type {report['model']}",
        "  hparams: " + ", ".join(f"{k}={v}" for k, v in hp.items() if k != "ftype"),
        f"  mel filters {report['mel_filters'][0]}x{report['mel_filters'][1]}, "
        f"vocabulary {report['vocab_tokens']} tokens",
        f"  {report['n_tensors']} tensors: " + ", ".join(f"{t} {n:,} B" for t, n in report["bytes_per_type"].items()),
    ]
    problems = report["problems"]
    lines.append(f"  {len(problems)} problem(s)" + (":" if problems else " - whisper.cpp should load it"))
    lines += [f"    {p['severity']}: {p['message']}" for p in problems]
    return "\n".join(lines)
