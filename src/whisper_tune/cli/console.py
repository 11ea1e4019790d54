"""Where the CLI writes: results on stdout, logs and progress on stderr.

On a terminal, rich lays results out to the terminal's width; in a file or a pipe nothing is
wrapped (rich would otherwise wrap every line at 80 columns), so a result line stays one line.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rich is imported when a command prints, not at start-up
    from rich.console import Console

#: Width given to rich when stdout is not a terminal: wide enough that no table or line wraps.
UNWRAPPED_WIDTH = 10_000


def result_console() -> Console:
    """A rich console on stdout for a command's result (tables, verdicts)."""
    from rich.console import Console

    if sys.stdout.isatty():
        return Console()
    return Console(file=sys.stdout, width=UNWRAPPED_WIDTH, soft_wrap=True)
