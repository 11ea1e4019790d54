"""Entry point of the ``whisper-tune`` console command."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from whisper_tune import __version__
from whisper_tune.errors import WhisperTuneError

# Modules under whisper_tune.cli, each registering one (or one group of) subcommand(s),
# in the order ``--help`` lists them: the pipeline order.
COMMAND_MODULES: tuple[str, ...] = (
    "record",
    "transcribe",
    "import_ct2",
    "manifest",
    "train",
    "acft",
    "merge",
    "export",
    "inspect",
    "check",
    "verify",
    "eval",
    "config",
    "demo",
)

log = logging.getLogger("whisper_tune")

EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="whisper-tune",
        description=(
            "Fine-tune Whisper on your own words, export it to whisper.cpp (GGML) and "
            "prove that the exported file transcribes like the trained model."
        ),
    )
    parser.add_argument("--version", action="version", version=f"whisper-tune {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument("--debug", action="store_true", help="show a traceback for internal errors")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        importlib.import_module(f"whisper_tune.cli.{name}").register(subparsers)
    return parser


def configure_logging(verbose: int, quiet: bool) -> None:
    from rich.logging import RichHandler

    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    handler = RichHandler(show_time=False, show_path=verbose >= 2, markup=False, rich_tracebacks=False)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("whisper_tune")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # Third-party chatter (transformers' generation warnings, deprecation notices of the
    # libraries we call, etc.) only when asked for: it is not actionable for a user.
    if verbose < 2:
        import warnings

        for library in ("transformers", "peft", "accelerate", "torch"):
            warnings.filterwarnings("ignore", category=FutureWarning, module=library)
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=library)
    for noisy in ("transformers", "accelerate", "peft", "datasets", "urllib3", "httpx", "filelock", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.ERROR if verbose < 2 else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0 if args.command is None else 2
    configure_logging(args.verbose, args.quiet)
    try:
        return int(args.handler(args) or 0)
    except WhisperTuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours: say so briefly, traceback only on request
        if args.debug:
            raise
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in whisper-tune; run again with --debug for the traceback and report it.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
