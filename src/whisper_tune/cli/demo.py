"""``whisper-tune demo``: the whole pipeline on the embedded tiny.en, offline."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    from whisper_tune.demo import describe_pipeline

    parser = subparsers.add_parser(
        "demo",
        help="run the whole pipeline on the embedded tiny.en and a bundled domain dataset",
        description=(
            "End to end, offline, on a laptop CPU in about 15 minutes:\n" + describe_pipeline()
            + "\n\nAn interrupted demo picks up where it stopped; --restart starts over."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", default="demo-out", metavar="DIR", help="output folder (default: demo-out)")
    parser.add_argument("--restart", action="store_true", help="ignore earlier progress and run every stage")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.demo import REPORT_FILE, run_demo

    state = run_demo(args.out, restart=args.restart)
    verify = state["verify"]["result"]
    print(f"report: {args.out}/{REPORT_FILE}")
    for dtype, verdict in verify.items():
        print(f"{dtype}: {'PASS' if verdict['passed'] else 'FAIL'} ({verdict['reason']})")
    return 0
