"""Data for the training tests: small manifests written into temporary folders."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

#: Short made-up transcripts for the random-audio set (the model learns nothing real from it).
PHRASES = ("deploy the build", "check the pods", "scale it up", "roll back now", "open the logs",
           "restart the node", "merge the branch", "tag the release")


def write_csv_manifest(path: Path, pairs: list[tuple[Path, str]]) -> Path:
    """The minimal hand-written manifest form: an audio and a text column."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["audio", "text"])
        writer.writerows([str(audio), text] for audio, text in pairs)
    return path


def random_clips_manifest(folder: Path, count: int, seed: int = 0) -> Path:
    """``count`` clips of 0.5-2 s of quiet noise with short transcripts (for shape/loop tests)."""
    from whisper_tune.audio import SAMPLE_RATE, write_wav

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for index in range(count):
        samples = (0.05 * rng.standard_normal(int(SAMPLE_RATE * rng.uniform(0.5, 2.0)))).astype(np.float32)
        audio = folder / f"clip{index:03d}.wav"
        write_wav(audio, samples)
        pairs.append((audio, PHRASES[index % len(PHRASES)]))
    return write_csv_manifest(folder / "manifest.csv", pairs)


@pytest.fixture(scope="session")
def random_manifest(tmp_path_factory) -> Path:
    return random_clips_manifest(tmp_path_factory.mktemp("random-clips"), 24)


@pytest.fixture(scope="session")
def demo_manifests(tmp_path_factory) -> dict[str, Path]:
    """Domain dictation from the bundled demo dataset: sentences s01-s08 spoken by three
    voices for training; the same sentences by the fourth voice for validation (never trained on)."""
    from whisper_tune.demo_data import demo_split_dir

    folder = tmp_path_factory.mktemp("demo-manifests")
    clips = sorted(demo_split_dir("train").glob("s0[1-8]-*.ogg"))
    if not clips:
        pytest.skip("the bundled demo dataset is missing")
    pairs = [(clip, clip.with_suffix(".txt").read_text(encoding="utf-8").strip()) for clip in clips]
    train = [p for p in pairs if "en-us-f4" not in p[0].name]
    validation = [p for p in pairs if "en-us-f4" in p[0].name]
    return {"train": write_csv_manifest(folder / "train.csv", train),
            "validation": write_csv_manifest(folder / "validation.csv", validation)}
