"""The demo's verify stage alone, timed: ``verify`` of an f16 and a q8_0 export (the q8_0 one
with ``short_audio``) against their reference model on the demo's 24 held-out clips, exactly
as ``whisper_tune.demo.stage_verify`` calls it.

``--compare-with SRC`` also runs the same stage with another checkout's ``src`` folder (e.g.
the code before a change), alternating the two ``--repeats`` times in fresh processes, and
checks that both give identical verdicts, WERs and transcripts.

Run: ``.venv/bin/python bench/verify_stage.py [--model embedded:tiny.en] [--compare-with /old/src]
[--repeats 2]``. By default the reference is the embedded tiny.en (stock: it loops at FUTO's
contexts, so the sweep decodes up to 220 tokens per clip); ``--model DIR`` takes e.g. the
demo's ACFT model (demo-out/runs/acft/last).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from shapes import scratch_dir

SRC = Path(__file__).resolve().parents[1] / "src"


def stage(model: str, files: dict[str, str], heldout: str, report_root: Path) -> dict:
    """What stage_verify does, with its wall time and everything a verdict is made of."""
    from whisper_tune import demo
    from whisper_tune.verify.verify import verify

    started = time.perf_counter()
    if hasattr(demo, "verify_exports"):
        found = demo.verify_exports(files, model, heldout, report_root)
    else:  # a checkout from before verify_exports: stage_verify's loop as it was then
        found = {}
        for dtype in ("f16", "q8_0"):
            report = verify(files[dtype], model, heldout, max_wer_delta=demo.MAX_WER_DELTA,
                            report_dir=report_root / f"verify-{dtype}", short_audio=dtype == "q8_0")
            found[dtype] = {"passed": report.passed, "reason": report.reason, "ggml_wer": report.ggml_wer,
                            "model_wer": report.model_wer, "exact_match_rate": report.exact_match_rate,
                            "short_audio_safe": report.short_audio_safe,
                            "short_audio": [row.to_dict() for row in report.short_audio]}
    seconds = time.perf_counter() - started
    keys = ("passed", "reason", "ggml_wer", "model_wer", "exact_match_rate", "short_audio_safe", "short_audio")
    verdicts = {dtype: {key: found[dtype][key] for key in keys} for dtype in found}
    for dtype in found:  # the transcripts too, from the written report
        written = json.loads((report_root / f"verify-{dtype}" / "verify.json").read_text(encoding="utf-8"))
        verdicts[dtype]["texts"] = [(c["ggml_text"], c["model_text"]) for c in written["clips"]]
    return {"seconds": seconds, "verdicts": verdicts}


def prepare(model: str, workdir: Path) -> tuple[dict[str, str], str]:
    from whisper_tune.data.build import build_manifest
    from whisper_tune.demo_data import demo_split_dir
    from whisper_tune.export.exporter import export_ggml

    files = {dtype: str(export_ggml(model, dtype, workdir / f"model-{dtype}.bin").path) for dtype in ("f16", "q8_0")}
    heldout = build_manifest([demo_split_dir("heldout")], workdir / "heldout.csv", strict=True)
    return files, str(heldout.manifests["train"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded:tiny.en")
    parser.add_argument("--compare-with", default=None, metavar="SRC", help="another checkout's src/ folder")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--child", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        files_json, heldout, out = args.child
        print(json.dumps(stage(args.model, json.loads(files_json), heldout, Path(out))))
        return 0
    workdir = scratch_dir("bench-verify-")
    files, heldout = prepare(args.model, workdir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; model {args.model}")
    versions = {"this checkout": SRC, **({"compared": Path(args.compare_with)} if args.compare_with else {})}
    results: dict[str, list[dict]] = {name: [] for name in versions}
    for repeat in range(args.repeats):
        for name, src in versions.items():
            env = {**os.environ, "PYTHONPATH": str(src)}
            load = os.getloadavg()[0]
            done = subprocess.run([sys.executable, __file__, "--model", args.model, "--child", json.dumps(files),
                                   heldout, str(workdir / f"{name.replace(' ', '-')}-{repeat}")],
                                  capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"{name}: failed\n{done.stderr[-2000:]}")
                return 1
            result = json.loads(done.stdout.strip().splitlines()[-1])
            result["load"] = load
            results[name].append(result)
            print(f"{name} run {repeat + 1}: {result['seconds']:.1f} s (load average {load:.1f})", flush=True)
    print()
    print("| code | verify stage s (each run) | load average | same verdicts and transcripts as this checkout |")
    print("|---|---|---|---|")
    ours = results["this checkout"][0]["verdicts"]
    for name, runs in results.items():
        same = all(r["verdicts"] == ours for r in runs)
        seconds = ", ".join(f"{r['seconds']:.1f}" for r in runs)
        loads = ", ".join(f"{r['load']:.1f}" for r in runs)
        print(f"| {name} | {seconds} | {loads} | {'yes' if same else 'NO'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
