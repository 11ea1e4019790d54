"""``whisper-tune check``: is a Hugging Face Whisper model ready to convert to whisper.cpp?"""

from __future__ import annotations

import argparse
import json

from whisper_tune.cli.console import result_console


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "check",
        help="check that a model is ready to convert to whisper.cpp (and --fix what is safe to fix)",
        description=(
            "Check a Hugging Face Whisper model (any spec: a folder, embedded:tiny.en, an adapter's base) "
            "before exporting it: config fields present and consistent with the weights, a vocabulary "
            "size whisper.cpp knows (51864/51865/51866), the output projection tied to the token "
            "embedding, tokenizer files (vocab.json, merges.txt, added_tokens.json), and a usable "
            "generation config. --fix writes missing tokenizer files from tokenizer.json, sets a missing "
            "max_length from max_target_positions and writes a missing preprocessor_config.json, and "
            "lists each change. Exit status 0: ready; 1: problems remain."
        ),
    )
    parser.add_argument("model", metavar="MODEL", help="model spec: an HF folder, embedded:tiny.en, ...")
    parser.add_argument("--fix", action="store_true", help="repair what can be derived safely, and list it")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from whisper_tune.verify.check import check_model

    report = check_model(args.model, fix=args.fix)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print(report)
    return 0 if report.ok else 1


def _print(report) -> None:
    from rich.table import Table

    console = result_console()
    console.print(f"[bold]{report.spec}[/bold] ({report.folder})")
    console.print("checked: " + ", ".join(report.checked))
    for line in report.fixed:
        console.print(f"[green]fixed[/green] {line}", markup=True)
    if report.findings:
        table = Table("level", "where", "problem", "--fix")
        for f in report.findings:
            table.add_row(f.level, f.where, f.message, "yes" if f.fixable else "")
        console.print(table)
    console.print("[green]ready to convert[/green]" if report.ok else "[red]not ready: fix the errors above[/red]")
