"""``whisper-tune record``: read your words aloud in the browser; get a training set."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)

EPILOG = """\
writes, in the layout `manifest build --speaker-from-dir` reads:
  OUT/train/VOICE/<prompt>.wav + .txt   16 kHz mono takes and their text
  OUT/val/VOICE/<prompt>.wav + .txt     held-out sentences (the validation split)
  OUT/prompts.csv                       which prompt each file answers
running it again resumes: prompts already recorded are not asked again.

example:
  whisper-tune record --terms terms.txt --out recordings/ --voice alice
"""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "record",
        help="record your words in the browser: a word list becomes a training set",
        description=(
            "Serve a local recording page (127.0.0.1 only, works offline) that prompts each term "
            "alone, in short phrases and in sentences, and saves each accepted take as a 16 kHz "
            "WAV with its transcript. Keys: space records/stops, enter accepts."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--terms", type=Path, metavar="FILE", help="UTF-8 text file: one term per line (at most 10 words each)"
    )
    parser.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="recordings folder (created; resumed when it exists)"
    )
    parser.add_argument("--sentences", type=Path, metavar="FILE", help="your own prompts too: one sentence per line")
    parser.add_argument(
        "--per-term",
        type=int,
        default=3,
        metavar="N",
        help="training prompts per term: alone, short phrase, sentence, ... (default 3)",
    )
    parser.add_argument(
        "--voice", default="me", metavar="NAME", help="speaker id: the folder the takes go to (default: me)"
    )
    parser.add_argument(
        "--templates",
        type=Path,
        metavar="FILE",
        help="your own carrier phrases (YAML like the built-in templates.yaml)",
    )
    parser.add_argument("--port", type=int, default=8765, help="port on 127.0.0.1 (default 8765; 0 picks a free one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open the page; print its address only")
    parser.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace) -> int:
    import webbrowser

    from whisper_tune.record.server import RecorderServer
    from whisper_tune.record.session import RecordingSession, SessionOptions, next_commands

    options = SessionOptions(args.out, args.terms, args.sentences, args.voice, args.per_term, args.templates)
    session = RecordingSession.open(options)
    start = session.summary()
    server = RecorderServer(session, args.port).start()
    print(
        f"recording page: {server.url}  ({start.recorded_total} of {start.total} prompt(s) already recorded; "
        "click 'Finish' or press Ctrl-C to stop)",
        file=sys.stderr,
        flush=True,
    )
    if not args.no_browser and not webbrowser.open(server.url):
        log.warning("could not open a browser; open %s yourself", server.url)
    try:
        server.wait()
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        server.stop()
    summary = session.summary()
    print(
        f"{summary.recorded_total} of {summary.total} prompt(s) recorded in {summary.out} "
        f"(train {summary.recorded['train']}, val {summary.recorded['val']})",
        file=sys.stderr,
    )
    commands = next_commands(summary)
    if commands:
        print("next:", file=sys.stderr)
        print("\n".join(commands))
    else:
        print("no training take recorded yet; run the same command again to carry on", file=sys.stderr)
    return 0
