"""Docs cannot drift from the tool: every `whisper-tune ...` command shown in README.md and
docs/*.md must parse with the real argument parser (subcommand and options exist, required
arguments are given), and a shown train/acft config with its key=value overrides must load
(every key exists, every value is valid). The commands themselves run in each area's tests."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from whisper_tune.cli.main import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.S)
_COMMAND = re.compile(r"^(?:\$\s*)?(?:\.venv/bin/)?whisper-tune\s+(.*)$")
_INLINE = re.compile(r"`(?:\.venv/bin/)?whisper-tune\s+([^`]+)`")


def doc_commands() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in _FENCE.findall(doc.read_text(encoding="utf-8")):
            joined = re.sub(r"\\\n\s*", " ", block)
            for line in joined.splitlines():
                line = line.split("  #")[0].strip()
                match = _COMMAND.match(line)
                if match:
                    found.append((doc.name, match.group(1)))
    return found


def doc_mentions() -> list[tuple[str, str]]:
    """Inline `whisper-tune ...` spans in prose: mentions and synopses, not full commands."""
    return [(doc.name, span) for doc in DOCS
            for span in _INLINE.findall(_FENCE.sub("", doc.read_text(encoding="utf-8")))]


def test_docs_show_commands():
    assert len(doc_commands()) >= 5


@pytest.mark.parametrize(("doc", "command"), doc_commands())
def test_documented_command_parses(doc, command, capsys):
    argv = shlex.split(command)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if "--help" in argv or "-h" in argv:
            assert exc.code == 0
            return
        pytest.fail(f"{doc}: `whisper-tune {command}` does not parse: {capsys.readouterr().err.strip()}")
    assert getattr(args, "handler", None) is not None, f"{doc}: `whisper-tune {command}` names no command"
    _check_config(doc, command, args)


def _check_config(doc: str, command: str, args) -> None:
    from whisper_tune.acft.config import load_acft_config
    from whisper_tune.training.config import load_train_config

    loaders = {"train": load_train_config, "acft": load_acft_config}
    config_file = getattr(args, "config", None)
    if args.command not in loaders or not config_file:
        return
    path = REPO / config_file
    assert path.is_file(), f"{doc}: `whisper-tune {command}` names {config_file}, which is not in the repository"
    try:
        loaders[args.command](path, [*args.overrides, "resume=no"])
    except Exception as exc:  # the message is the point of the failure
        pytest.fail(f"{doc}: `whisper-tune {command}`: {exc}")


@pytest.mark.parametrize(("doc", "mention"), doc_mentions())
def test_mentioned_commands_and_options_exist(doc, mention):
    """A mention names a real (sub)command, and every --option it shows belongs to it."""
    import argparse

    parser = build_parser()
    words = mention.replace("|", " ").replace("[", " ").replace("]", " ").replace("(", " ").replace(")", " ").split()
    current: argparse.ArgumentParser = parser
    used: list[str] = []
    for word in words:
        choices = next((a.choices for a in current._actions if isinstance(a, argparse._SubParsersAction)), None)
        if choices is None or word.startswith("-") or word not in choices:
            break
        current, used = choices[word], [*used, word]
    if words and not words[0].startswith("-"):
        assert used, f"{doc}: `whisper-tune {mention}` names no whisper-tune command"
    for word in words:
        if word.startswith("--"):
            option = word.split("=")[0].rstrip(".,;:")
            assert option in current._option_string_actions, (
                f"{doc}: `whisper-tune {mention}`: {' '.join(used) or 'whisper-tune'} has no option {option}")
