"""Precision benchmark: whisper-tune's quantized export of a float32 model vs converter-style.

    python bench/precision.py --model FOLDER --data MANIFEST [MANIFEST ...] [--dtype q5_0]

whisper.cpp's route is convert-h5-to-ggml.py (which rounds every tensor through float16,
the float32 ones too) then whisper-quantize (which quantizes those float16 values).
whisper-tune quantizes the model's own float32 values and keeps its float32 tensors exact.
The converter-style file is built here without the reference tools: the model rounded
through float16 (every tensor, stored as float32) and exported by whisper-tune, whose
quantizers are byte-identical to whisper-quantize (tests/export/test_exporter.py) and whose
f16 tensors are byte-identical to the converter's. Both files are decoded by whisper.cpp
(`whisper-tune eval --backend whispercpp`, greedy) on the manifest; the table gives WER,
CER and how many tensors differ.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file

from whisper_tune.export.exporter import export_ggml
from whisper_tune.formats.ggml import read_ggml
from whisper_tune.formats.safetensors import weight_files


def rounded_through_f16(model: Path, out: Path) -> Path:
    """A copy of ``model`` whose every weight went float32 -> float16 -> float32."""
    shutil.copytree(model, out, ignore=shutil.ignore_patterns("*.safetensors"))
    for file in weight_files(model):
        tensors = load_file(str(file))
        save_file({k: v.astype(np.float16).astype(np.float32) if v.dtype == np.float32 else v
                   for k, v in tensors.items()}, str(out / file.name), metadata={"format": "pt"})
    return out


def differing_tensors(a: Path, b: Path) -> dict[str, int]:
    """Per tensor type: how many tensors differ between two GGML files of the same model."""
    left, right = read_ggml(a), read_ggml(b)
    counts: dict[str, int] = {}
    for name in left.tensor_order:
        tensor = left.tensors[name]
        key = f"{tensor.type_name} differing"
        counts.setdefault(key, 0)
        counts.setdefault(f"{tensor.type_name} total", 0)
        counts[f"{tensor.type_name} total"] += 1
        if tensor.sha256() != right.tensors[name].sha256():
            counts[key] += 1
    return counts


def whisper_cpp_wer(model: Path, data: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-m", "whisper_tune", "-q", "eval", str(model), "--data", str(data),
                          "--backend", "whispercpp", "--json"], check=True, capture_output=True, text=True)
    totals = json.loads(out.stdout)["totals"]
    return {"wer": float(totals["wer"]), "cer": float(totals["cer"])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="HF folder of a model stored in float32")
    parser.add_argument("--data", type=Path, required=True, nargs="+",
                        help="manifests to decode (audio and text columns)")
    parser.add_argument("--dtype", default="q5_0")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-precision-") as scratch:
        work = Path(scratch)
        ours = export_ggml(args.model, args.dtype, work / f"ours-{args.dtype}.bin").path
        converter_style = rounded_through_f16(args.model, work / "rounded")
        theirs = export_ggml(converter_style, args.dtype, work / f"converter-style-{args.dtype}.bin").path
        print(f"model {args.model}, {args.dtype}; {platform.machine()}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}\n")
        print("tensors:", json.dumps(differing_tensors(ours, theirs)))
        print("\n| file | whisper.cpp WER | CER |\n|---|---:|---:|")
        for label, path in (("whisper-tune (from float32)", ours), ("converter-style (through f16)", theirs)):
            for data in args.data:
                scores = whisper_cpp_wer(path, data)
                print(f"| {label}, {data.parent.name}/{data.name} | {100 * scores['wer']:.2f} % | "
                      f"{100 * scores['cer']:.2f} % |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
