"""Data pipeline speed: manifest building and feature extraction, cold and cached.

Compares, on the same synthetic clips (1 to 10 s, 16/22.05/44.1/48 kHz, mono and stereo):

* manifest building: ``build_manifest`` (pairing + full validation: decode, level, content
  hash, duplicates) against a plain script (glob, read the .txt, ``sf.info`` for the
  duration, write a CSV; checks nothing);
* features: the plain per-clip reference a Hugging Face script runs (``sf.read`` + downmix +
  resample + ``WhisperFeatureExtractor``, no cache) against ``FeatureCache`` cold (empty
  cache: hash + decode + features + write) and warm (second epoch / second run).

Run: ``.venv/bin/python bench/data.py [--clips 60] [--threads N]``. Prints a table with
clips per second, ratios to the reference and the machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf


def make_clips(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    rates = (16_000, 22_050, 44_100, 48_000)
    clips = []
    for i in range(count):
        rate = rates[i % len(rates)]
        seconds = float(rng.uniform(1.0, 10.0))
        n = int(seconds * rate)
        t = np.arange(n) / rate
        signal = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 800) * t) * (0.6 + 0.4 * np.sin(8 * t))
        signal += 0.01 * rng.standard_normal(n)
        data = np.stack([signal, 0.8 * signal], axis=1) if i % 3 == 0 else signal
        path = folder / f"spk{i % 5}" / f"clip{i:04d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, data.astype(np.float32), rate, subtype="PCM_16")
        path.with_suffix(".txt").write_text(f"synthetic clip number {i}", encoding="utf-8")
        clips.append(path)
    return clips


def plain_manifest(folder: Path, out: Path) -> int:
    """What a quick script does: pair by stem, sf.info for the duration, write a CSV."""
    rows = []
    for wav in sorted(folder.rglob("*.wav")):
        text = wav.with_suffix(".txt").read_text(encoding="utf-8").strip()
        info = sf.info(str(wav))
        rows.append([str(wav), text, info.frames / info.samplerate])
    with open(out, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return len(rows)


def plain_features(clips: list[Path], fe) -> None:
    """The reference: decode, downmix, resample, feature extractor; per clip, no cache."""
    import soxr

    for clip in clips:
        data, rate = sf.read(str(clip), dtype="float32", always_2d=True)
        mono = data.mean(axis=1)
        if rate != 16_000:
            mono = soxr.resample(mono, rate, 16_000, quality="HQ")
        fe(mono, sampling_rate=16_000, return_tensors="np").input_features[0]


def timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return (
        f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} threads {torch.get_num_threads()}, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=60, help="number of synthetic clips (default 60)")
    parser.add_argument("--threads", type=int, help="torch threads for the feature extractor (default: torch's)")
    args = parser.parse_args()
    import torch
    from transformers import WhisperFeatureExtractor

    from whisper_tune.data.build import build_manifest
    from whisper_tune.data.features import FeatureCache

    if args.threads:
        torch.set_num_threads(args.threads)
    fe = WhisperFeatureExtractor()
    with tempfile.TemporaryDirectory(prefix="wt-bench-data-") as tmp:
        root = Path(tmp)
        clips = make_clips(root / "rec", args.clips)
        seconds_of_audio = sum(sf.info(str(c)).duration for c in clips)
        timed(plain_features, clips[:2], fe)  # warm up torch and the page cache
        plain_manifest_s = timed(plain_manifest, root / "rec", root / "plain.csv")
        build_s = timed(build_manifest, [root / "rec"], root / "out" / "train.csv")
        reference_s = timed(plain_features, clips, fe)
        cache = FeatureCache(root / "cache")
        cold_s = timed(lambda: [cache.get(c, fe) for c in clips])
        warm_s = timed(lambda: [cache.get(c, fe) for c in clips])
        second_run = FeatureCache(root / "cache")
        rerun_s = timed(lambda: [second_run.get(c, fe) for c in clips])
        entry_bytes = sum(p.stat().st_size for p in (root / "cache").rglob("*.npz"))
    n = len(clips)
    rows = [
        ("manifest: plain script (pairs + sf.info, no checks)", plain_manifest_s, None),
        ("manifest: whisper-tune build (full validation)", build_s, plain_manifest_s),
        ("features: reference (decode + resample + extractor)", reference_s, None),
        ("features: FeatureCache cold (empty cache)", cold_s, reference_s),
        ("features: FeatureCache warm (2nd epoch)", warm_s, reference_s),
        ("features: FeatureCache 2nd run (new process state)", rerun_s, reference_s),
    ]
    print(f"machine: {machine()}")
    print(f"clips: {n} ({seconds_of_audio:.0f} s of audio, 1-10 s each, 16-48 kHz, 1/3 stereo)")
    print(f"{'work':55} {'clips/s':>10} {'speed vs ref':>14}")
    for name, seconds, reference in rows:
        ratio = f"{reference / seconds:.2f}x" if reference else "1 (ref)"
        print(f"{name:55} {n / seconds:10.1f} {ratio:>14}")
    print(f"cache size: {entry_bytes / n / 1024:.0f} KiB per clip on disk (a full 80x3000 float32 array is 938 KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
