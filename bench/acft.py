"""ACFT benchmark: synthesize training speech, run ACFT, measure WER/loops in whisper.cpp.

    python bench/acft.py synth OUT_DIR [--clips 400] [--seed 7] [--short]
        espeak-ng speech (bench/acft_sentences.py, 13 voices, 120-200 wpm, silence around the
        words and a -75..-45 dBFS noise floor like a microphone) -> OUT_DIR/manifest.csv
    python bench/acft.py data OUT_DIR
        the training set of docs/BENCHMARKS.md: 240 sentence clips + 320 short-phrase clips,
        joined into OUT_DIR/train.csv
    python bench/acft.py eval MODEL_DIR [MODEL_DIR ...] --out results.json
        export each model to GGML f16, transcribe ../shared/audio/real (evaluation only) in
        whisper.cpp (subprocess, `whisper-tune eval`'s decoding) at the full context and at
        FUTO's dynamic contexts, print a Markdown table of WER and loops.

The real clips are never used for training. Needs espeak-ng (synth) and ../shared (eval).
"""

from __future__ import annotations

import argparse
import json
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


def synth(out_dir: Path, clips: int, seed: int, short: bool = False) -> None:
    from acft_sentences import SENTENCES, SHORT_PHRASES
    from whisper_tune.audio import audio_info
    from whisper_tune.data.manifest import ManifestRow, write_manifest

    check_disjoint_from_eval(SHORT_PHRASES + SENTENCES)
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
        like_a_recording(path, lead=rng.uniform(0.0, 0.4), trail=rng.uniform(0.0, 0.4),
                         noise_dbfs=rng.uniform(-75.0, -45.0), seed=rng.randrange(2**32))
        info = audio_info(path)
        rows.append(ManifestRow(path.stem, path, text, info.duration, info.sample_rate, info.channels,
                                voice, "en"))
    write_manifest(rows, out_dir / "manifest.csv")
    durations = sorted(r.duration for r in rows)
    print(f"{len(rows)} clips, {sum(durations) / 60:.1f} min, {durations[0]:.1f}-{durations[-1]:.1f} s "
          f"(median {durations[len(durations) // 2]:.1f} s), {time.perf_counter() - started:.0f} s")


def like_a_recording(path: Path, lead: float, trail: float, noise_dbfs: float, seed: int) -> None:
    """Make an espeak-ng clip look like a microphone recording: some silence before and after
    the words (keyword and dictation clips have 0.1-0.5 s) and a noise floor (real clips sit
    at -45 to -75 dBFS; espeak-ng's output is digital silence between words). Without both,
    ACFT never sees the noise-to-padding edge that every real clip has in whisper.cpp.
    Rewritten in place (bench data, not a user file)."""
    import numpy as np
    import soundfile as sf

    audio, rate = sf.read(path, dtype="float32")
    audio = np.concatenate([np.zeros(int(lead * rate), np.float32), audio, np.zeros(int(trail * rate), np.float32)])
    noise = np.random.default_rng(seed).standard_normal(audio.size).astype(np.float32)
    audio += noise * np.float32(10 ** (noise_dbfs / 20))
    sf.write(path, np.clip(audio, -1.0, 1.0), rate, subtype="PCM_16")


def check_disjoint_from_eval(phrases) -> None:
    """Training phrases must share no transcript with the evaluation clips, compared after the
    normalization WER is scored with ("Ten." and "ten" are the same transcript)."""
    from whisper_tune.data.manifest import read_manifest
    from whisper_tune.evaluation.normalize import normalize_text

    manifest = REPO / ".." / "shared" / "audio" / "real" / "manifest.csv"
    if not manifest.exists():
        return
    held_out = {normalize_text(row.text) for row in read_manifest(manifest)}
    shared = sorted(p for p in phrases if normalize_text(p) in held_out)
    if shared:
        raise SystemExit(f"training phrases also transcribe evaluation clips: {shared}")


def training_data(out_dir: Path) -> None:
    """The ACFT training set of docs/BENCHMARKS.md: 240 sentence clips (seed 12) and 320
    one-to-three-word clips (seed 11), joined into OUT_DIR/train.csv."""
    from whisper_tune.data.manifest import read_manifest, write_manifest

    synth(out_dir / "long", 240, 12)
    synth(out_dir / "short", 320, 11, short=True)
    rows = read_manifest(out_dir / "long" / "manifest.csv") + read_manifest(out_dir / "short" / "manifest.csv")
    print(f"{len(rows)} clips -> {write_manifest(rows, out_dir / 'train.csv')}")


#: Contexts evaluated (whisper_tune.evaluation.contexts labels): the full 30 s, then
#: ceil(samples/320) + 8 / + 32 (FUTO Voice Input) / + 64 without floor, and FUTO Keyboard's
#: + 32 with its 160 floor.
CONTEXTS = ("full", "futo+8", "futo+32", "futo+64", "futo")


def evaluate(models: list[str], out: Path, dtype: str, beam_size: int) -> None:
    """whisper.cpp decoding as FUTO deploys it (no timestamps for clips under 25 s, no
    temperature fallback), through the product's own evaluator: `whisper-tune eval`."""
    from whisper_tune.evaluation.eval import evaluate as evaluate_model
    from whisper_tune.evaluation.eval import load_clips
    from whisper_tune.export.exporter import export_ggml
    from whisper_tune.transcribe.types import DecodeOptions

    clips = load_clips(REPO / ".." / "shared" / "audio" / "real" / "manifest.csv")
    options = DecodeOptions(beam_size=beam_size)
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for spec in models:
            ggml = export_ggml(spec, dtype, Path(tmp) / f"{Path(spec).name}-{dtype}.bin").path
            results[spec] = {}
            for label in CONTEXTS:
                report = evaluate_model(ggml, clips, backend="whispercpp", audio_ctx=label, options=options)
                totals = report.totals()
                results[spec][label] = {
                    "wer": round(100 * totals["wer"], 2), "loops": totals["loops"],
                    "seconds": round(report.seconds, 1),
                    "looping_clips": [r.id for r in report.rows if r.loop],
                    "texts": [r.hypothesis for r in report.rows],
                }
                print(f"{spec} {label}: WER {100 * totals['wer']:.2f} loops {totals['loops']} "
                      f"{results[spec][label]['looping_clips']}", flush=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"\nwhisper.cpp, {dtype}, beam {beam_size}; WER % (loops of {len(clips)} clips)\n")
    print("| model | " + " | ".join(CONTEXTS) + " |")
    print("|---|" + "---|" * len(CONTEXTS))
    for spec, row in results.items():
        cells = [f"{row[c]['wer']:.2f} ({row[c]['loops']})" for c in CONTEXTS]
        print(f"| {spec} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synth")
    s.add_argument("out_dir", type=Path)
    s.add_argument("--clips", type=int, default=400)
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--short", action="store_true", help="1-3 word phrases (single-word dictation)")
    d = sub.add_parser("data", help="the benchmark's ACFT training set (synth twice, joined)")
    d.add_argument("out_dir", type=Path)
    e = sub.add_parser("eval")
    e.add_argument("models", nargs="+")
    e.add_argument("--out", type=Path, required=True)
    e.add_argument("--dtype", default="f16")
    e.add_argument("--beam-size", type=int, default=1, help="1 = greedy (default); FUTO's apps offer 5")
    args = parser.parse_args()
    if args.cmd == "synth":
        synth(args.out_dir, args.clips, args.seed, args.short)
    elif args.cmd == "data":
        training_data(args.out_dir)
    else:
        evaluate(args.models, args.out, args.dtype, args.beam_size)


if __name__ == "__main__":
    main()
