"""Token agreement of the reference decoder with whisper.cpp, per runtime and decoding.

The embedded tiny.en (HF, float32, our own greedy and beam search) against its f16 GGML
export in whisper.cpp 1.8.5 (``current``) and whisper.cpp 1.5 (``1.5``, pywhispercpp 1.2.0),
on the 43 real clips of ../shared/audio/real at the full context, no timestamps, no
fallback, whisper.cpp's non-speech suppression on both sides (the 1.5 runtime has nothing
else). Prints, per runtime and decoding, on how many clips the text and the tokens are the
same, and every difference with the first token where it starts.

Run: ``.venv/bin/python bench/parity.py [--runtimes current,1.5] [--beams 1,5] [--limit N]
[--json OUT]``. Needs ../shared.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtimes", default="current,1.5")
    parser.add_argument("--beams", default="1,5")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", default=None)
    args = parser.parse_args()
    if not SHARED.exists():
        print(f"needs {SHARED.resolve()}", file=sys.stderr)
        return 2

    import torch

    from whisper_tune.evaluation.eval import decode_hf, load_clips
    from whisper_tune.export.exporter import export_ggml
    from whisper_tune.formats.ggml import read_ggml
    from whisper_tune.models import load_model, load_processor
    from whisper_tune.transcribe import DecodeOptions
    from whisper_tune.whispercpp import default_threads, transcribe_ggml
    from whisper_tune.whispercpp.runtimes import current_runtime, runtime_15
    from whisper_tune.whispercpp.suppress import non_speech_ids

    torch.set_num_threads(default_threads())
    clips = load_clips(SHARED / "audio" / "real" / "manifest.csv", limit=args.limit)
    model, processor = load_model("embedded:tiny.en"), load_processor("embedded:tiny.en")
    runtimes = {"current": current_runtime, "1.5": runtime_15}
    rows, details = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        ggml_path = export_ggml("embedded:tiny.en", "f16", Path(tmp) / "tiny.en-f16.bin").path
        nst = tuple(sorted(non_speech_ids(read_ggml(ggml_path).vocab)))
        for beam in (int(b) for b in args.beams.split(",")):
            options = DecodeOptions(beam_size=beam, suppress_tokens=nst)
            started = time.perf_counter()
            reference = decode_hf(model, processor, [c.audio for c in clips], [None] * len(clips), options)
            hf_seconds = time.perf_counter() - started
            for name in args.runtimes.split(","):
                runtime = runtimes[name]()
                started = time.perf_counter()
                cpp = transcribe_ggml(ggml_path, [c.audio for c in clips], options, runtime=runtime,
                                      n_threads=default_threads())
                cpp_seconds = time.perf_counter() - started
                diffs = [_difference(c.id, r, g) for c, r, g in zip(clips, reference, cpp, strict=True)
                         if r.tokens != g.tokens]
                same_text = sum(r.text == g.text for r, g in zip(reference, cpp, strict=True))
                rows.append({"runtime": runtime.describe(), "beam": beam, "clips": len(clips),
                             "same_text": same_text, "same_tokens": len(clips) - len(diffs),
                             "hf_s": round(hf_seconds, 1), "whisper_cpp_s": round(cpp_seconds, 1)})
                details[f"{name} beam {beam}"] = diffs
    print(f"machine: {platform.machine()}, {platform.processor() or platform.platform()}")
    print("| runtime | decoding | same text | same tokens | HF s | whisper.cpp s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runtime']} | {'greedy' if r['beam'] == 1 else 'beam ' + str(r['beam'])} | "
              f"{r['same_text']}/{r['clips']} | {r['same_tokens']}/{r['clips']} | {r['hf_s']} | "
              f"{r['whisper_cpp_s']} |")
    for key, diffs in details.items():
        for d in diffs:
            print(f"{key}: {d['id']} from token {d['at']}: reference {d['reference']!r} / "
                  f"whisper.cpp {d['whisper_cpp']!r}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "differences": details}, indent=2))
    return 0


def _difference(clip_id, reference, cpp) -> dict:
    at = next((i for i, (a, b) in enumerate(zip(reference.tokens, cpp.tokens, strict=False)) if a != b),
              min(len(reference.tokens), len(cpp.tokens)))
    return {"id": clip_id, "at": at, "reference": reference.text, "whisper_cpp": cpp.text,
            "reference_tokens": reference.tokens[at:at + 5], "whisper_cpp_tokens": cpp.tokens[at:at + 5]}


if __name__ == "__main__":
    sys.exit(main())
