"""ACFT benchmark: synthesize training speech, run ACFT, measure WER/loops in whisper.cpp.

    python bench/acft.py synth OUT_DIR [--clips 400] [--seed 7]
        espeak-ng speech (bench/acft_sentences.py, 13 voices, 120-200 wpm) -> OUT_DIR/manifest.csv
    python bench/acft.py eval MODEL_DIR [MODEL_DIR ...] --out results.json
        export each model to GGML f16, transcribe ../shared/audio/real (evaluation only) in
        whisper.cpp (subprocess) at the full context and at FUTO's dynamic contexts, print a
        Markdown table of WER and loops.

The real clips are never used for training. Needs espeak-ng (synth) and ../shared (eval).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

VOICES = (
    "en-us+m3", "en-us+f2", "en-gb+m1", "en-gb+f4", "en-gb-x-rp+m2", "en-gb-scotland+f1",
    "en-us-nyc+m4", "en-029+f3", "en-gb-x-gbclan+m5", "en-gb-x-gbcwmd+f5", "en-us+m7",
    "en-gb+m6", "en-us+f1",
)
#: Contexts evaluated: name -> (offset, floor); None = the full 30-s context.
SCHEMES = {"full": None, "dyn+8": (8, None), "futo+32": (32, None), "dyn+64": (64, None)}


def synth(out_dir: Path, clips: int, seed: int, short: bool = False) -> None:
    from acft_sentences import SENTENCES, SHORT_PHRASES

    from whisper_tune.audio import audio_info
    from whisper_tune.data.manifest import ManifestRow, write_manifest

    rng = random.Random(seed)
    audio_dir = out_dir / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    started = time.perf_counter()
    for index in range(clips):
        # Mostly dictation-length clips (1 sentence), some long ones (2-7 sentences, up to ~29 s).
        count = 1 if rng.random() < 0.7 else rng.randint(2, 7)
        text = rng.choice(SHORT_PHRASES) if short else " ".join(rng.sample(SENTENCES, count))
        voice, speed, pitch = rng.choice(VOICES), rng.randint(120, 200), rng.randint(30, 70)
        gap = rng.randint(0, 20)  # word gap in 10 ms units: slower, more pausing speakers
        path = audio_dir / f"{'w' if short else 'c'}{index:04d}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-g", str(gap),
                        "-w", str(path), text], check=True, capture_output=True)
        info = audio_info(path)
        rows.append(ManifestRow(path.stem, path, text, info.duration, info.sample_rate, info.channels,
                                voice, "en"))
    write_manifest(rows, out_dir / "manifest.csv")
    durations = sorted(r.duration for r in rows)
    print(f"{len(rows)} clips, {sum(durations) / 60:.1f} min, {durations[0]:.1f}-{durations[-1]:.1f} s "
          f"(median {durations[len(durations) // 2]:.1f} s), {time.perf_counter() - started:.0f} s")


WORKER = r"""
import json, sys
import numpy as np
from pywhispercpp.model import Model
from whisper_tune.audio import load_audio
model_path, jobs_path, log_path = sys.argv[1:4]
jobs = json.load(open(jobs_path))
from pywhispercpp import utils
model = Model(model_path, redirect_whispercpp_logs_to=log_path, n_threads=1, print_progress=False,
              print_realtime=False)
out = []
for job in jobs:
    audio = load_audio(job["audio"])
    segs = model.transcribe(audio, audio_ctx=job["ctx"], language="en", no_context=True,
                            single_segment=True, max_tokens=224, temperature_inc=0.0,
                            print_progress=False)
    out.append(" ".join(s.text.strip() for s in segs).strip())
json.dump(out, sys.stdout)
"""


def whispercpp_transcribe(ggml: Path, jobs: list[dict]) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        jobs_path = Path(tmp) / "jobs.json"
        jobs_path.write_text(json.dumps(jobs))
        log_path = Path(tmp) / "log.txt"
        proc = subprocess.run([sys.executable, "-c", WORKER, str(ggml), str(jobs_path), str(log_path)],
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"whisper.cpp worker failed: {proc.stderr[-2000:]}")
        return json.loads(proc.stdout)


def context_for(scheme, n_samples: int) -> int:
    if scheme is None:
        return 0  # whisper.cpp: 0 = the model's full context
    offset, floor = scheme
    ctx = math.ceil(n_samples / 320) + offset
    return min(max(ctx, floor or 1), 1500)


def word_errors(ref: str, hyp: str) -> tuple[int, int]:
    r, h = ref.split(), hyp.split()
    row = list(range(len(h) + 1))
    for i, rw in enumerate(r, 1):
        prev, row[0] = row[0], i
        for j, hw in enumerate(h, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (rw != hw))
    return row[-1], len(r)


def looped(text: str, ref_words: int) -> bool:
    """A repetition loop: far more words than spoken, or a 3-gram repeated 4+ times."""
    words = text.split()
    if len(words) > 2 * ref_words + 10:
        return True
    grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    return any(grams.count(g) >= 4 for g in set(grams))


def evaluate(models: list[str], out: Path, dtype: str) -> None:
    from whisper_normalizer.english import EnglishTextNormalizer

    from whisper_tune.audio import load_audio
    from whisper_tune.export.exporter import export_ggml

    real = REPO / ".." / "shared" / "audio" / "real"
    with open(real / "manifest.csv", newline="", encoding="utf-8") as handle:
        clips = list(csv.DictReader(handle))
    norm = EnglishTextNormalizer()
    samples = {c["file"]: len(load_audio(real / c["file"])) for c in clips}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in models:
            ggml = export_ggml(spec, dtype, Path(tmp) / f"{Path(spec).name}-{dtype}.bin").path
            results[spec] = {}
            for name, scheme in SCHEMES.items():
                jobs = [{"audio": str(real / c["file"]), "ctx": context_for(scheme, samples[c["file"]])}
                        for c in clips]
                started = time.perf_counter()
                texts = whispercpp_transcribe(ggml, jobs)
                errors = words = loops = 0
                for clip, text in zip(clips, texts):
                    ref, hyp = norm(clip["text"]), norm(text)
                    e, n = word_errors(ref, hyp)
                    errors, words = errors + e, words + n
                    loops += looped(hyp, n)
                results[spec][name] = {"wer": round(100 * errors / words, 2), "loops": loops,
                                       "seconds": round(time.perf_counter() - started, 1),
                                       "texts": texts}
                print(f"{spec} {name}: WER {100 * errors / words:.2f} loops {loops}", flush=True)
    out.write_text(json.dumps(results, indent=2))
    print("| model | " + " | ".join(SCHEMES) + " |")
    print("|---|" + "---|" * len(SCHEMES))
    for spec, row in results.items():
        cells = [f"{row[n]['wer']:.2f} ({row[n]['loops']} loops)" for n in SCHEMES]
        print(f"| {spec} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth")
    s.add_argument("out_dir", type=Path)
    s.add_argument("--clips", type=int, default=400)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--short", action="store_true", help="1-3 word phrases (single-word dictation)")
    e = sub.add_parser("eval")
    e.add_argument("models", nargs="+")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--dtype", default="f16")
    args = parser.parse_args()
    if args.cmd == "synth":
        synth(args.out_dir, args.clips, args.seed, args.short)
    else:
        evaluate(args.models, args.out, args.dtype)


if __name__ == "__main__":
    main()
