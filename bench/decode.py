"""Evaluation decoding: HF greedy decoding batched against one clip at a time.

Same model, same clips, same settings (greedy, no timestamps, whisper.cpp's token cap):
``transcribe_clip_contexts`` with ``--batch`` clips per decoder call against batch 1, at the
full context and at FUTO Voice Input's per-clip context; seconds for each and whether every
clip's tokens are identical. Clips: the demo dataset's held-out clips, plus jfk.wav and the
real clips of ../shared when present.

Run: ``.venv/bin/python bench/decode.py [--batch 16] [--device cpu|cuda] [--model tiny.en|base-shaped]
[--dtype float32|bfloat16] [--max-tokens N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes import MODELS, attention_of, model_spec, scratch_dir

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def clip_set() -> dict[str, list]:
    from whisper_tune.audio import load_audio
    from whisper_tune.demo_data import demo_split_dir

    sets = {"demo held-out": [load_audio(p) for p in sorted(demo_split_dir("heldout").glob("*.ogg"))]}
    real = sorted((SHARED / "audio" / "real").glob("*.wav")) if (SHARED / "audio" / "real").is_dir() else []
    if real:
        sets["../shared real"] = [load_audio(p) for p in real]
    if (SHARED / "jfk.wav").is_file():
        sets["jfk.wav"] = [load_audio(SHARED / "jfk.wav")]
    return sets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--model", default="tiny.en", choices=MODELS)
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--max-tokens", type=int, default=None, help="token cap (default: whisper.cpp's, 220)")
    parser.add_argument("--json", default=None)
    args = parser.parse_args()

    import torch

    from whisper_tune.models import load_model, load_processor
    from whisper_tune.models.short_encoder import futo_audio_ctx
    from whisper_tune.transcribe.hf import transcribe_clip_contexts
    from whisper_tune.transcribe.types import DecodeOptions
    from whisper_tune.whispercpp import aligned_options

    spec = model_spec(args.model, scratch_dir("bench-decode-"))
    model = load_model(spec, dtype=getattr(torch, args.dtype), device=args.device)
    processor = load_processor(spec)
    options = aligned_options(DecodeOptions(), int(model.config.max_target_positions))
    if args.max_tokens:
        options = DecodeOptions(max_tokens=args.max_tokens)
    gpu = f" ({torch.cuda.get_device_name(0)})" if args.device == "cuda" else ""
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, device {args.device}{gpu}, "
          f"torch {torch.__version__}, {args.dtype}, attention {attention_of(model)}; model {args.model}; "
          f"token cap {options.max_tokens}")
    rows = []
    for name, clips in clip_set().items():
        for context in ("full", "futo+32"):
            contexts = [None if context == "full" else futo_audio_ctx(len(c), floor=None) for c in clips]
            timed = {}
            for batch in (1, args.batch):
                load = os.getloadavg()[0]
                started = time.perf_counter()
                out = transcribe_clip_contexts(model, processor, clips, contexts, options, batch_size=batch)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                timed[batch] = (time.perf_counter() - started, [t.tokens for t in out], load)
            (one_s, one_tokens, load), (many_s, many_tokens, _) = timed[1], timed[args.batch]
            same = sum(a == b for a, b in zip(one_tokens, many_tokens, strict=True))
            rows.append({"set": name, "context": context, "clips": len(clips), "batch_1_s": round(one_s, 2),
                         f"batch_{args.batch}_s": round(many_s, 2), "speed_up": round(one_s / many_s, 2),
                         "identical_tokens": same, "load": round(load, 1)})
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(f"| clips | context | batch 1 s | batch {args.batch} s | speed-up | identical tokens | load |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} ({r['clips']}) | {r['context']} | {r['batch_1_s']} | {r[f'batch_{args.batch}_s']} | "
              f"{r['speed_up']}x | {r['identical_tokens']}/{r['clips']} | {r['load']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "model": args.model, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
