"""Export benchmark: `whisper-tune export` against whisper.cpp's own converter and quantizer.

    python bench/export.py [--model embedded:tiny.en] [--runs 3]
                           [--whisper-cpp DIR --openai-whisper DIR] [--work DIR]

(a large model: `python bench/make_large_model.py /work/bigmodel` builds a random large-v3,
1.55 B float32 parameters in 2 GB shards; then `--model /work/bigmodel --runs 1 --work DIR`
with DIR on the disk the files would go to, outside the repository).

Measures wall time and peak memory (max RSS of the process) of, on the same HF model folder:

- HF -> f16:  `whisper-tune export MODEL --dtype f16` vs `python DIR/models/convert-h5-to-ggml.py`
- HF -> q5_0: `whisper-tune export MODEL --dtype q5_0` vs the converter followed by
  `DIR/build/bin/whisper-quantize` (wall times added, peak = the larger of the two)
- each again as "ours, no fsync": `whisper-tune export ... --no-sync`

The reference needs a whisper.cpp checkout with whisper-quantize built (--whisper-cpp) and
an openai/whisper checkout for its converter's assets/mel_filters.npz (--openai-whisper);
without them only our figures are printed. Each figure is the median of --runs runs, each a
fresh process (startup and imports included, as a user sees it). Also compares the files
tensor by tensor: f16 tensors must be byte-identical; from a float32 model the f32 and
quantized tensors differ, as whisper-tune keeps the model's precision where the converter
rounds through f16 (docs/WHISPER_CPP_CONVERSION_GUIDE.md, "Precision").

whisper-tune writes its file past the page cache (O_DIRECT) where the file system allows and
fsyncs it before renaming it into place; the converter writes through the cache and does not
sync, so its time stops while gigabytes may still wait in the page cache. The "+ sync"
column adds the fsync of the reference's output, the time until its file is on disk too.
The "ours, no fsync" rows skip our final fsync, and their "+ sync" column adds an fsync of
our output after the run. The physical limit is reading the input once (page cache warm)
plus putting the output on the disk once (the faster of a buffered write with fsync and an
O_DIRECT write), at the speeds measured here in the same run, one after the other; the
load average is printed beside every row.
"""

from __future__ import annotations

import argparse
import json
import mmap
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


def ours(model: Path, dtype: str, out: Path) -> Measure:
    return run_measured([*WHISPER_TUNE, "export", str(model), "--dtype", dtype, "--out", str(out)])


def ours_no_sync(model: Path, dtype: str, out: Path) -> tuple[Measure, float]:
    """`export --no-sync`; also the seconds an fsync of its output took afterwards."""
    measure = run_measured([*WHISPER_TUNE, "export", str(model), "--dtype", dtype, "--out", str(out), "--no-sync"])
    return measure, fsync_seconds(out)


def same_sha256(left: Path, right: Path) -> bool:
    """Whether two exports' sidecars record the same sha256 (the files are not read again)."""
    def digest(file: Path) -> str:
        return json.loads(file.with_name(file.name + ".json").read_text(encoding="utf-8"))["sha256"]

    return digest(left) == digest(right)


def reference(model: Path, dtype: str, out_dir: Path, whisper_cpp: Path, openai_whisper: Path) -> tuple[Measure, float]:
    """The converter (then whisper-quantize for quantized types); also the seconds an fsync of
    its output took afterwards (what it left unwritten)."""
    convert = run_measured([sys.executable, str(whisper_cpp / "models" / "convert-h5-to-ggml.py"),
                            str(model), str(openai_whisper), str(out_dir)])
    if dtype == "f16":
        return convert, fsync_seconds(out_dir / "ggml-model.bin")
    output = out_dir / f"ggml-model-{dtype}.bin"
    quantize = run_measured([str(whisper_cpp / "build" / "bin" / "whisper-quantize"),
                             str(out_dir / "ggml-model.bin"), str(output), dtype])
    return Measure(convert.seconds + quantize.seconds, max(convert.peak_mib, quantize.peak_mib)), fsync_seconds(output)


def fsync_seconds(path: Path) -> float:
    started = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - started


def read_speed(files: list[Path]) -> float:
    """Bytes per second reading ``files`` once into one reused buffer (as the export reads)."""
    buffer = bytearray(16 << 20)
    total, started = 0, time.perf_counter()
    for file in files:
        with open(file, "rb", buffering=0) as handle:
            while count := handle.readinto(buffer):
                total += count
    return total / (time.perf_counter() - started)


def write_speed(folder: Path, nbytes: int) -> float:
    """Bytes per second putting ``nbytes`` on the disk: the faster of a buffered write plus
    fsync and an O_DIRECT write (past the page cache, as the export writes where it can)."""
    block_bytes = 16 << 20
    blocks = max(1, nbytes // block_bytes)
    target = folder / "write-speed.tmp"
    speeds = []
    with mmap.mmap(-1, block_bytes) as buffer:  # page-aligned, as O_DIRECT needs
        buffer.write(os.urandom(block_bytes))
        for direct in (False, True) if hasattr(os, "O_DIRECT") else (False,):
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (os.O_DIRECT if direct else 0)
            started = time.perf_counter()
            fd = os.open(target, flags, 0o644)
            try:
                for _ in range(blocks):
                    os.write(fd, buffer)
                os.fsync(fd)
            finally:
                os.close(fd)
            speeds.append(blocks * block_bytes / (time.perf_counter() - started))
            target.unlink()
    return max(speeds)


def tensor_comparison(ours_file: Path, ref_file: Path) -> str:
    """'f16 515/515 identical; f32 162/744; q5_0 0/513' (per type: identical / total)."""
    from whisper_tune.formats.ggml import read_ggml

    left, right = read_ggml(ours_file), read_ggml(ref_file)
    same: dict[str, list[int]] = {}
    for name in left.tensor_order:
        tensor = left.tensors[name]
        counts = same.setdefault(tensor.type_name, [0, 0])
        counts[1] += 1
        counts[0] += int(name in right.tensors and tensor.sha256() == right.tensors[name].sha256())
    return "; ".join(f"{kind} {n}/{total}" for kind, (n, total) in same.items())


def weight_bytes(model: Path) -> tuple[list[Path], int]:
    from whisper_tune.formats.safetensors import weight_files

    files = weight_files(model)
    return files, sum(file.stat().st_size for file in files)


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


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded:tiny.en", help="model spec (default embedded:tiny.en)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--whisper-cpp", type=Path, help="whisper.cpp checkout with build/bin/whisper-quantize")
    parser.add_argument("--openai-whisper", type=Path, help="openai/whisper checkout (whisper/assets/mel_filters.npz)")
    parser.add_argument("--work", type=Path, help="folder for the outputs (default: a temporary folder)")
    args = parser.parse_args()

    model = resolve_in_child(args.model)  # both tools read the same HF folder
    have_reference = bool(args.whisper_cpp and args.openai_whisper
                          and (args.whisper_cpp / "build" / "bin" / "whisper-quantize").is_file()
                          and (args.openai_whisper / "whisper" / "assets" / "mel_filters.npz").is_file())
    if not have_reference:
        print("reference skipped: give --whisper-cpp DIR (with build/bin/whisper-quantize built) and "
              "--openai-whisper DIR (for whisper/assets/mel_filters.npz)", file=sys.stderr)

    files, input_bytes = weight_bytes(model)
    print(f"model {args.model} ({model}, {input_bytes / 1e9:.2f} GB of weights); median of {args.runs} runs; "
          f"{machine()}\n")
    print("| work | ours s | ours MiB | reference s | + sync s | reference MiB | time ratio | time ratio (+ sync) "
          "| memory ratio | limit s | ours / limit | tensors identical |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="bench-export-", dir=args.work) as scratch:
        work = Path(scratch)
        rows: list[tuple[str, Path, Path | None]] = []
        for dtype in ("f16", "q5_0"):
            ours_out, fast_out = work / f"ours-{dtype}.bin", work / f"ours-{dtype}-no-fsync.bin"
            row_load = load()
            mine = median([ours(model, dtype, ours_out) for _ in range(args.runs)])
            fast_runs = [ours_no_sync(model, dtype, fast_out) for _ in range(args.runs)]
            fast = median([measure for measure, _ in fast_runs])
            fast_synced = fast.seconds + statistics.median(sync for _, sync in fast_runs)
            limit = (input_bytes / read_speed(files)
                     + ours_out.stat().st_size / write_speed(work, ours_out.stat().st_size))
            row = f"| HF -> {dtype} | {mine.seconds:.1f} | {mine.peak_mib:.0f} |"
            fast_row = f"| HF -> {dtype}, ours no fsync | {fast.seconds:.1f} | {fast.peak_mib:.0f} |"
            ref_file = None
            if have_reference:
                runs = [reference(model, dtype, work, args.whisper_cpp, args.openai_whisper) for _ in range(args.runs)]
                theirs = median([measure for measure, _ in runs])
                synced = theirs.seconds + statistics.median(sync for _, sync in runs)
                ref_file = work / f"ref-{dtype}.bin"
                os.replace(work / ("ggml-model.bin" if dtype == "f16" else f"ggml-model-{dtype}.bin"), ref_file)
                row += (f" {theirs.seconds:.1f} | {synced:.1f} | {theirs.peak_mib:.0f} | "
                        f"{mine.seconds / theirs.seconds:.2f} | {mine.seconds / synced:.2f} | "
                        f"{mine.peak_mib / theirs.peak_mib:.3f} |")
                # Against the reference without its sync: both leave the file in the page cache.
                fast_row += (f" {theirs.seconds:.1f} | {synced:.1f} | {theirs.peak_mib:.0f} | "
                             f"{fast.seconds / theirs.seconds:.2f} | {fast_synced / synced:.2f} | "
                             f"{fast.peak_mib / theirs.peak_mib:.3f} |")
            else:
                row += " - | - | - | - | - | - |"
                fast_row += " - | - | - | - | - | - |"
            rows.append((row + f" {limit:.1f} | {mine.seconds / limit:.2f} |", ours_out, ref_file))
            same = "same sha256 as synced" if same_sha256(fast_out, ours_out) else "DIFFERS from synced"
            rows.append((fast_row + f" - | - | {same};", fast_out, ref_file))
            print(f"{row} (load {row_load}-{load()})", file=sys.stderr, flush=True)
            print(f"{fast_row} ours no fsync + sync {fast_synced:.1f} s", file=sys.stderr, flush=True)
        # Compared only now: reading the files grows this process, and a child forked from a
        # large process reports the parent's pages in its own peak.
        for row, ours_out, ref_file in rows:
            print(f"{row} {tensor_comparison(ours_out, ref_file) if ref_file else '-'} |", flush=True)
        print(f"\nload average: {load()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
