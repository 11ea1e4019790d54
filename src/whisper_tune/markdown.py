"""Helpers for the markdown reports (eval, verify): text that must sit inside a table cell."""

from __future__ import annotations


def markdown_cell(text: object) -> str:
    """``text`` as one markdown table cell: pipes escaped, line breaks flattened."""
    return str(text).replace("|", "\\|").replace("\n", " ")
