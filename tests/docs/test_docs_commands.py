"""Docs cannot drift from the tool: every `whisper-tune ...` command shown in README.md and
docs/*.md must parse with the real argument parser (subcommand and options exist, required
arguments are given). The commands themselves are run by the tests of each area."""

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
