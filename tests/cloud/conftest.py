"""Small real data for the cloud tests: a few seconds of bundled demo speech."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_clips_manifest(tmp_path_factory) -> Path:
    """Four bundled demo clips (two sentences, two voices) as a minimal manifest."""
    from tests.training.conftest import write_csv_manifest
    from whisper_tune.demo_data import demo_split_dir

    clips = sorted(demo_split_dir("train").glob("s0[12]-en-us-*.ogg"))[:4]
    if len(clips) < 4:
        pytest.skip("the bundled demo dataset is missing")
    pairs = [(clip, clip.with_suffix(".txt").read_text(encoding="utf-8").strip()) for clip in clips]
    return write_csv_manifest(tmp_path_factory.mktemp("cloud-data") / "train.csv", pairs)
