"""Where whisper-tune keeps what it rebuilds or computes once (models, features)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "WHISPER_TUNE_CACHE"


def cache_root() -> Path:
    """``$WHISPER_TUNE_CACHE``, else ``$XDG_CACHE_HOME/whisper-tune``, else ``~/.cache/whisper-tune``."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "whisper-tune"
