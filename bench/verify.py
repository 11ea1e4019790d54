"""Short audio on stock tiny.en, and whisper.cpp against HF on the same decoding.

For the embedded tiny.en (HF, float32) and its f16 GGML export (whisper.cpp 1.8.5 through
pywhispercpp, in a child process): WER, CER and repetition loops on the jfk.wav cuts and on
the 43 real clips of ../shared/audio/real, at the full context, FUTO Keyboard's dynamic
context (+32, floor 160) and offsets +8, +32, +64 without the floor; greedy, no fallback.
Also how often both backends give identical tokens, and decoding speed (real-time factor).

Run: ``.venv/bin/python bench/verify.py [--contexts full,futo,...] [--sets jfk,real]
[--backends hf,whispercpp] [--dtype f16] [--json OUT]``. Needs ../shared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared"
sys.path.insert(0, str(REPO))
CONTEXTS = ("full", "futo", "futo+8", "futo+32", "futo+64")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default=",".join(CONTEXTS))
    parser.add_argument("--sets", default="jfk,real")
    parser.add_argument("--backends", default="hf,whispercpp")
    parser.add_argument("--dtype", default="f16")
    parser.add_argument("--beam-size", type=int, default=1, help="1 = greedy (default); FUTO uses 5")
    parser.add_argument("--json", default=None, help="also write the measurements here")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch threads for the HF side (default: the idle cores, as for whisper.cpp)")
    args = parser.parse_args()

    import torch

    from whisper_tune.whispercpp import default_threads

    # On a busy machine, extra threads spin against each other: 1 thread was 5x faster here.
    torch.set_num_threads(args.torch_threads or default_threads())

    from tests.jfk_cuts import jfk_cuts  # a test helper: the repository root is on sys.path

    from whisper_tune.audio import load_audio
    from whisper_tune.evaluation.eval import evaluate, load_clips
    from whisper_tune.export.exporter import export_ggml
    from whisper_tune.models import load_model, load_processor
    from whisper_tune.transcribe import DecodeOptions

    if not SHARED.exists():
        print(f"needs {SHARED.resolve()}", file=sys.stderr)
        return 2
    sets = {}
    if "jfk" in args.sets:
        sets["jfk cuts"] = jfk_cuts(load_audio(SHARED / "audio" / "jfk.wav"))
    if "real" in args.sets:
        sets["real clips"] = load_clips(SHARED / "audio" / "real" / "manifest.csv")
    model, processor = load_model("embedded:tiny.en"), load_processor("embedded:tiny.en")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        ggml = export_ggml("embedded:tiny.en", args.dtype, Path(tmp) / f"tiny.en-{args.dtype}.bin").path
        for set_name, clips in sets.items():
            for ctx in args.contexts.split(","):
                reports = {}
                for backend in args.backends.split(","):
                    spec = str(ggml) if backend == "whispercpp" else "embedded:tiny.en"
                    report = evaluate(spec, clips, backend, ctx, DecodeOptions(beam_size=args.beam_size),
                                      hf_model=model, hf_processor=processor)
                    reports[backend] = report
                    row = {"set": set_name, "backend": backend, "audio_ctx": ctx, "beam_size": args.beam_size,
                           **report.totals()}
                    results.append(row)
                    print(
                        f"{set_name:10s} {backend:10s} {ctx:8s} beam {args.beam_size} "
                        f"WER {row['wer']:8.1%} CER {row['cer']:8.1%} "
                        f"loops {row['loops']:2d}/{row['clips']:2d}  {row['seconds']:6.1f} s  "
                        f"RTF {row['real_time_factor']:.3f}",
                        flush=True,
                    )
                if len(reports) == 2:
                    a, b = reports["hf"].rows, reports["whispercpp"].rows
                    same = sum(x.hypothesis == y.hypothesis for x, y in zip(a, b, strict=True))
                    results.append({"set": set_name, "audio_ctx": ctx, "identical_text": same, "clips": len(a)})
                    print(f"{set_name:10s} {'agree':10s} {ctx:8s} identical text {same}/{len(a)}", flush=True)
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
               f"whisper.cpp threads {default_threads()}, torch threads {torch.get_num_threads()}")
    print(f"machine: {machine}; {time.strftime('%Y-%m-%d %H:%M')}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": machine, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
