"""Entry point of the ``whisper-tune`` console command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

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
    "push",
    "config",
    "demo",
)

log = logging.getLogger("whisper_tune")

#: Libraries whose log records and warnings (deprecations, generation hints) are not actionable
#: for a user: shown with -vv only.
THIRD_PARTY = ("transformers", "accelerate", "peft", "datasets", "torch", "urllib3", "httpx", "filelock",
               "huggingface_hub", "werkzeug")

EXIT_INTERNAL = 70
BUG_REPORTS = "https://github.com/whisper-tune/whisper-tune/issues"

#: Library parameters whose command-line option has another destination name.
PARAMETER_OPTIONS = {"n_threads": "threads", "futo": "futo_name", "model_spec": "model", "root": "out",
                     "provider": "cloud", "timeout_seconds": "timeout"}
EXIT_INTERRUPTED = 130


class IntermixedParser(argparse.ArgumentParser):
    """A parser that takes options and positional arguments in any order.

    argparse's ``parse_intermixed_args`` refuses a parser that has subcommands, so each leaf
    parser (one without subcommands) parses intermixed, and a parser with subcommands parses
    as usual up to its subcommand, which hands the rest to its own (leaf) parser. Subparsers
    inherit the class, so every command and nested command (``manifest build``) gets it.
    """

    _intermixing = False  # parse_known_intermixed_args calls parse_known_args itself

    def parse_known_args(
        self, args: Iterable[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        if self._intermixing or self._has_subcommands():
            return super().parse_known_args(args, namespace)
        self._intermixing = True
        try:
            return super().parse_known_intermixed_args(None if args is None else list(args), namespace)
        finally:
            self._intermixing = False

    def _has_subcommands(self) -> bool:
        return any(isinstance(action, argparse._SubParsersAction) for action in self._actions)


def build_parser() -> argparse.ArgumentParser:
    parser = IntermixedParser(
        prog="whisper-tune",
        description=(
            "Fine-tune Whisper on your own words, export it to whisper.cpp (GGML) and "
            "prove that the exported file transcribes like the trained model."
        ),
    )
    parser.add_argument("--version", action="version", version=f"whisper-tune {__version__}")
    _add_global_options(parser, default_of=lambda value: value)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMAND_MODULES:
        importlib.import_module(f"whisper_tune.cli.{name}").register(subparsers)
    for command in _all_subparsers(parser):
        # `whisper-tune verify FILE -v` as well as `whisper-tune -v verify FILE`; SUPPRESS keeps a
        # subcommand from resetting what was given before it.
        _add_global_options(command, default_of=lambda _value: argparse.SUPPRESS)
    return parser


def _add_global_options(parser: argparse.ArgumentParser, default_of: Callable[[Any], Any]) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default_of(0),
                        help="more log output (-vv for debug, and third-party warnings)")
    parser.add_argument("-q", "--quiet", action="store_true", default=default_of(False),
                        help="only warnings and errors")
    parser.add_argument("--debug", action="store_true", default=default_of(False),
                        help="show a traceback for internal errors")


def _all_subparsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found: list[argparse.ArgumentParser] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                found += [sub, *_all_subparsers(sub)]
    return found


def configure_logging(verbose: int, quiet: bool) -> None:
    """Logs go to stderr (stdout carries results only), wrapped only on a terminal."""
    level = logging.WARNING if quiet else logging.DEBUG if verbose >= 2 else logging.INFO
    root = logging.getLogger("whisper_tune")
    root.handlers[:] = [_log_handler(show_path=verbose >= 2)]
    root.setLevel(level)
    root.propagate = False
    quiet_third_party(show=verbose >= 2)


def _log_handler(show_path: bool) -> logging.Handler:
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.logging import RichHandler

        rich_handler = RichHandler(console=Console(stderr=True), show_time=False, show_path=show_path,
                                   markup=False, rich_tracebacks=False)
        rich_handler.setFormatter(logging.Formatter("%(message)s"))
        return rich_handler
    handler = _StderrHandler()  # a file or a pipe: one line per record, unwrapped
    handler.setFormatter(_PlainFormatter())
    return handler


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a record is emitted, not as it was when created.

    A caller that swaps ``sys.stderr`` (a test's capture, a notebook) and closes its stream
    later would otherwise leave the handler writing into a closed file.
    """

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> TextIO:
        return sys.stderr


class _PlainFormatter(logging.Formatter):
    """``message`` for information, ``warning: message`` (etc.) for what needs attention."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {text}"


def quiet_third_party(show: bool) -> None:
    """Third-party log records and warnings only when ``show`` (-vv): they are not actionable.

    transformers sets its logger's level from TRANSFORMERS_VERBOSITY when it is first imported,
    which happens after this runs, so the variable is set too (the processes we start, such as
    the whisper.cpp worker and accelerate's, inherit it).
    """
    level = logging.INFO if show else logging.ERROR
    os.environ["TRANSFORMERS_VERBOSITY"] = "info" if show else "error"
    for library in THIRD_PARTY:
        logging.getLogger(library).setLevel(level)
        if not show:
            warnings.filterwarnings("ignore", module=library)


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


def run_command(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` with ``parser``, run the command's handler, turn errors into exit codes."""
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0 if args.command is None else 2
    configure_logging(args.verbose, args.quiet)
    try:
        return int(args.handler(args) or 0)
    except WhisperTuneError as exc:  # the user's to fix: one line, no traceback
        print(f"error: {in_cli_terms(str(exc), command_parser(parser, args))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours, whatever the input: ask for a report with the traceback
        if args.debug:
            raise
        traceback.print_exc(file=sys.stderr)
        print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            f"This is a bug in whisper-tune {__version__}, not a problem with your input. Please report it at "
            f"{BUG_REPORTS} with the command you ran and the traceback above.",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


def command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The (sub)parser that parsed ``args``' command, e.g. the one of ``manifest build``."""
    current = parser
    while True:
        subcommands = next((a for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        chosen = getattr(args, subcommands.dest, None) if subcommands is not None else None
        if subcommands is None or chosen not in subcommands.choices:
            return current
        current = subcommands.choices[chosen]


def in_cli_terms(message: str, parser: argparse.ArgumentParser) -> str:
    """A library message names parameters as `name`; on the command line they are options.

    Each `name` that is the destination of one of the command's options becomes that option
    (`dtype` -> --dtype, `hf_split` -> --hf-split), or of a positional argument its metavar
    (`model` -> MODEL); PARAMETER_OPTIONS covers parameters whose option has another name.
    Anything else is left as written.
    """
    options = {
        action.dest: max(action.option_strings, key=len) if action.option_strings else str(action.metavar)
        for action in parser._actions
        if action.option_strings or action.metavar
    }

    def option(match: re.Match[str]) -> str:
        name = match.group(1)
        return options.get(name) or options.get(PARAMETER_OPTIONS.get(name, ""), match.group(0))

    return re.sub(r"`([a-z][a-z0-9_]*)`", option, message)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
