"""Export benchmark: `whisper-tune export` against whisper.cpp's own converter and quantizer.

    python bench/export.py [--model embedded:tiny.en] [--runs 3]
                           [--whisper-cpp DIR --openai-whisper DIR]

Measures wall time and peak memory (max RSS of the process) of, on the same HF model folder:

- HF -> f16:  `whisper-tune export MODEL --dtype f16` vs `python DIR/models/convert-h5-to-ggml.py`
- HF -> q5_0: `whisper-tune export MODEL --dtype q5_0` vs the converter followed by
  `DIR/build/bin/whisper-quantize` (wall times added, peak = the larger of the two)

The reference needs a whisper.cpp checkout with whisper-quantize built (--whisper-cpp) and
an openai/whisper checkout for its converter's assets/mel_filters.npz (--openai-whisper);
without them only our figures are printed. Each figure is the median of --runs runs, each a
fresh process (startup and imports included, as a user sees it). Also checks that our files
are byte-identical to the reference's.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WHISPER_TUNE = [sys.executable, "-m", "whisper_tune", "-q"]


@dataclass
class Measure:
    seconds: float
    peak_mib: float


def run_measured(command: list[str]) -> Measure:
    """Wall time and max RSS of one child process (os.wait4 gives that child's own rusage)."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    assert proc.stderr is not None  # stderr=PIPE
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{proc.stderr.read().decode(errors='replace')[-2000:]}")
    proc.stderr.close()
    return Measure(elapsed, usage.ru_maxrss / 1024)


def median(measures: list[Measure]) -> Measure:
    return Measure(statistics.median(m.seconds for m in measures), statistics.median(m.peak_mib for m in measures))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def ours(model: Path, dtype: str, out: Path) -> Measure:
    return run_measured([*WHISPER_TUNE, "export", str(model), "--dtype", dtype, "--out", str(out)])


def reference(model: Path, dtype: str, out_dir: Path, whisper_cpp: Path, openai_whisper: Path) -> Measure:
    convert = run_measured([sys.executable, str(whisper_cpp / "models" / "convert-h5-to-ggml.py"),
                            str(model), str(openai_whisper), str(out_dir)])
    if dtype == "f16":
        return convert
    quantize = run_measured([str(whisper_cpp / "build" / "bin" / "whisper-quantize"),
                             str(out_dir / "ggml-model.bin"), str(out_dir / f"ggml-model-{dtype}.bin"), dtype])
    return Measure(convert.seconds + quantize.seconds, max(convert.peak_mib, quantize.peak_mib))


def resolve_in_child(spec: str) -> Path:
    """Resolve the spec in a child process: importing torch here would inflate every later
    child's max RSS (a forked child starts with this process's pages)."""
    code = "import sys; from whisper_tune.models import resolve_model; print(resolve_model(sys.argv[1]).path)"
    out = subprocess.run([sys.executable, "-c", code, spec], check=True, capture_output=True, text=True)
    return Path(out.stdout.strip().splitlines()[-1])


def machine() -> str:
    load = os.getloadavg()[0]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, {platform.system()}, load average {load:.1f} at the start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded:tiny.en", help="model spec (default embedded:tiny.en)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--whisper-cpp", type=Path, help="whisper.cpp checkout with build/bin/whisper-quantize")
    parser.add_argument("--openai-whisper", type=Path, help="openai/whisper checkout (whisper/assets/mel_filters.npz)")
    args = parser.parse_args()

    model = resolve_in_child(args.model)  # both tools read the same HF folder
    have_reference = bool(args.whisper_cpp and args.openai_whisper
                          and (args.whisper_cpp / "build" / "bin" / "whisper-quantize").is_file()
                          and (args.openai_whisper / "whisper" / "assets" / "mel_filters.npz").is_file())
    if not have_reference:
        print("reference skipped: give --whisper-cpp DIR (with build/bin/whisper-quantize built) and "
              "--openai-whisper DIR (for whisper/assets/mel_filters.npz)", file=sys.stderr)

    print(f"model {args.model} ({model}); median of {args.runs} runs; {machine()}\n")
    print("| work | ours s | ours MiB | reference s | reference MiB | time ratio | memory ratio | identical |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="bench-export-") as scratch:
        work = Path(scratch)
        for dtype in ("f16", "q5_0"):
            ours_out = work / f"ours-{dtype}.bin"
            mine = median([ours(model, dtype, ours_out) for _ in range(args.runs)])
            row = f"| HF -> {dtype} | {mine.seconds:.2f} | {mine.peak_mib:.0f} |"
            if have_reference:
                theirs = median([reference(model, dtype, work, args.whisper_cpp, args.openai_whisper)
                                 for _ in range(args.runs)])
                ref_file = work / ("ggml-model.bin" if dtype == "f16" else f"ggml-model-{dtype}.bin")
                same = "yes" if sha256(ours_out) == sha256(ref_file) else "NO"
                row += (f" {theirs.seconds:.2f} | {theirs.peak_mib:.0f} | {mine.seconds / theirs.seconds:.2f} | "
                        f"{mine.peak_mib / theirs.peak_mib:.2f} | {same} |")
            else:
                row += " - | - | - | - | - |"
            print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
