"""Per-file checks of whisper_tune.data.validate."""

from __future__ import annotations

import math
from pathlib import Path

from tests.data.data_helpers import write_clip
from whisper_tune.data.validate import escapes_root, inspect_audio


def test_inspect_audio_decodes_once_and_skips_files_too_long_to_use(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "a.wav", 2.0, rate=8_000, channels=2, level=0.1)
    facts = inspect_audio(clip)
    assert (facts.sample_rate, facts.channels, facts.frames) == (8_000, 2, 16_000)
    assert -35 < facts.rms_db < -25 and len(facts.digest) == 32 and facts.problem is None
    header_only = inspect_audio(clip, max_seconds=1.0)
    assert header_only.duration == 2.0 and header_only.digest == "" and header_only.rms_db == -math.inf
    assert inspect_audio(tmp_path / "none.wav").problem == ("missing_audio", "no such file")


def test_escape_is_lexical(tmp_path: Path) -> None:
    assert escapes_root(tmp_path / "data" / ".." / "x.wav", tmp_path / "data")
    assert not escapes_root(tmp_path / "data" / "sub" / ".." / "x.wav", tmp_path / "data")
    assert escapes_root(tmp_path / "database" / "x.wav", tmp_path / "data")  # a prefix is not a parent
