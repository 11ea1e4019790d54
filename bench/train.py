"""Training speed and quality: whisper-tune's `train` against a plain Hugging Face recipe.

Same model (the embedded tiny.en), same data, same settings, one run:

* data: the bundled demo dataset; training on the first ``--clips`` clips of ``train/``
  (2 to 5 s each), held-out WER on all of ``heldout/`` (new sentences, new voices);
* settings: batch 4, ``--steps`` optimizer steps, constant learning rate (1e-3 for LoRA r=8
  alpha=16 on q_proj/v_proj, 2e-5 for full fine-tuning), AdamW, seed 0;
* reference: ``Seq2SeqTrainer`` + PEFT (the common fine-tuning script): features padded to
  30 s, labels from the tokenizer with the start token stripped, default collator logic,
  float32 (the ``-bf16`` variants: the Trainer's ``bf16=True``);
* ours: ``whisper_tune.training.train`` with the variant's encoder-context settings and
  ``--mixed-precision`` (default auto: bf16 on CUDA and on CPUs with native bf16).

Each variant runs in its own process (peak RSS is the process's own). Throughput is training
samples per second of training wall time (features are computed before timing for both).
Held-out WER is measured the same way for every variant (our greedy decoder and WER), at the
full 30-s context and at FUTO Voice Input's per-clip audio_ctx (ceil(samples/320) + 32).

Run: ``.venv/bin/python bench/train.py [--steps 24] [--clips 32] [--variants ...]
[--device cpu|cuda] [--mixed-precision auto|no|bf16] [--model tiny.en|base-shaped] [--no-wer]``.
``base-shaped`` is a random model of base.en's shape (bench/shapes.py): speed only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from shapes import MODELS, model_spec, scratch_dir

VARIANTS = {
    # name: (kind, method, extra overrides for ours)
    "hf-lora": ("hf", "lora", []),
    "hf-full": ("hf", "full", []),
    "hf-lora-bf16": ("hf", "lora", ["bf16"]),
    "hf-full-bf16": ("hf", "full", ["bf16"]),
    "ours-lora-fp32": ("ours", "lora", ["encoder_context=clip", "full_context_fraction=0", "mixed_precision=no"]),
    "ours-full-fp32": ("ours", "full", ["encoder_context=clip", "full_context_fraction=0", "mixed_precision=no"]),
    "ours-full-mix10": ("ours", "full", ["encoder_context=clip", "full_context_fraction=0.1"]),
    "ours-full-lr4e-5": ("ours", "full", ["encoder_context=clip", "full_context_fraction=0", "learning_rate=4e-5"]),
    "ours-lora-full-ctx": ("ours", "lora", ["encoder_context=full"]),
    "ours-lora": ("ours", "lora", ["encoder_context=clip", "full_context_fraction=0"]),
    "ours-lora-mix25": ("ours", "lora", ["encoder_context=clip", "full_context_fraction=0.25"]),
    "ours-lora-dec-cached": ("ours", "lora", ["encoder_context=clip", "cache_encoder_outputs=true",
                                              "lora.target_modules=decoder.q_proj,decoder.v_proj"]),
    "ours-full": ("ours", "full", ["encoder_context=clip", "full_context_fraction=0"]),
    "ours-full-mix25": ("ours", "full", ["encoder_context=clip", "full_context_fraction=0.25"]),
}
DEFAULT_VARIANTS = ("hf-lora", "ours-lora", "ours-lora-mix25", "hf-full", "ours-full")
LEARNING_RATE = {"lora": 1e-3, "full": 2e-5}
BATCH = 4


def demo_rows(split: str, limit: int | None) -> list[tuple[str, str]]:
    from whisper_tune.demo_data import demo_split_dir

    clips = sorted(demo_split_dir(split).glob("*.ogg"))
    if split == "train":  # interleave voices so a prefix covers every voice
        clips = sorted(clips, key=lambda p: (p.stem.split("-", 1)[1], p.stem))
        clips = [c for group in zip(*[clips[i::4] for i in range(4)], strict=False) for c in group]
    pairs = [(str(c), c.with_suffix(".txt").read_text(encoding="utf-8").strip()) for c in clips]
    return pairs[:limit] if limit else pairs


def write_manifest(path: Path, pairs: list[tuple[str, str]]) -> Path:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["audio", "text"])
        writer.writerows(pairs)
    return path


def heldout_wer(whisper, processor, pairs: list[tuple[str, str]]) -> dict[str, float]:
    from whisper_tune.audio import load_audio
    from whisper_tune.models.short_encoder import futo_audio_ctx
    from whisper_tune.training.recipe import error_rates
    from whisper_tune.transcribe.hf import transcribe_clip_contexts

    clips = [load_audio(audio) for audio, _ in pairs]
    refs = [text for _, text in pairs]
    scores = {}
    whisper.float().eval()  # every variant is scored in float32, whatever it trained in
    for name, contexts in (
        ("full", [None] * len(clips)),
        ("futo", [futo_audio_ctx(len(c), floor=None) for c in clips]),
    ):
        hyps = [t.text for t in transcribe_clip_contexts(whisper, processor, clips, contexts, batch_size=16)]
        scores[f"wer_{name}"], _ = error_rates(refs, hyps, None)
    return scores


# --- one variant per process -----------------------------------------------------------------


def run_ours(method: str, extra: list[str], train_csv: Path, steps: int, out: Path, opts: argparse.Namespace) -> dict:
    from whisper_tune.training.config import load_train_config
    from whisper_tune.training.recipe import train

    overrides = [f"train_manifest={train_csv}", f"output_dir={out}", f"model={opts.model_spec}", f"method={method}",
                 f"max_steps={steps}", f"batch_size={BATCH}", f"learning_rate={LEARNING_RATE[method]}",
                 "lr_schedule=constant", "lora.rank=8", "lora.alpha=16", "lora.target_modules=q_proj,v_proj",
                 f"device={opts.device}", "progress=false", "save_every=0", f"mixed_precision={opts.mixed_precision}",
                 *extra]  # a variant's own mixed_precision comes last and wins
    config = load_train_config(None, overrides)
    # Warm the feature cache outside the timed loop (the reference precomputes its features too).
    from whisper_tune.data.dataset import SpeechDataset
    from whisper_tune.data.features import FeatureCache
    from whisper_tune.data.manifest import read_manifest
    from whisper_tune.models import load_model, load_processor

    processor = load_processor(config.model)
    dataset = SpeechDataset(read_manifest(train_csv), processor, FeatureCache())
    for index in range(len(dataset)):
        dataset[index]
    result = train(config)
    model = load_model(str(result.model_dir if method == "full" else out / "last"), device=opts.device)
    from whisper_tune.devices import pick_device, supported_precision

    return {"samples_per_second": result.samples_per_second, "processor": processor, "model": model,
            "precision": supported_precision(pick_device(opts.device), config.mixed_precision)}


def run_hf(method: str, extra: list[str], train_csv: Path, steps: int, out: Path, opts: argparse.Namespace) -> dict:
    """The common recipe: Seq2SeqTrainer + PEFT on 30-s padded features."""
    import torch
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    from whisper_tune.audio import load_audio
    from whisper_tune.data.manifest import read_manifest
    from whisper_tune.models import load_model, load_processor

    processor = load_processor(opts.model_spec)
    model = load_model(opts.model_spec)
    model.train()
    rows = read_manifest(train_csv)
    features = processor.feature_extractor([load_audio(r.audio) for r in rows], sampling_rate=16000,
                                           return_tensors="pt").input_features
    dataset = [{"input_features": features[i], "labels": processor.tokenizer(r.text).input_ids}
               for i, r in enumerate(rows)]

    def collate(items):
        labels = processor.tokenizer.pad({"input_ids": [i["labels"] for i in items]}, return_tensors="pt")
        ids = labels["input_ids"].masked_fill(labels.attention_mask.ne(1), -100)
        if (ids[:, 0] == model.config.decoder_start_token_id).all():
            ids = ids[:, 1:]  # the model prepends the start token itself
        return {"input_features": torch.stack([i["input_features"] for i in items]), "labels": ids}

    if method == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                 lora_dropout=0.0))
    bf16 = "bf16" in extra
    args = Seq2SeqTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=BATCH, learning_rate=LEARNING_RATE[method],
        lr_scheduler_type="constant", max_steps=steps, save_strategy="no", report_to=[], logging_steps=10_000,
        remove_unused_columns=False, label_names=["labels"], seed=0, use_cpu=opts.device == "cpu",
        dataloader_num_workers=0, disable_tqdm=True, bf16=bf16)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate)
    metrics = trainer.train().metrics
    whisper = model.get_base_model() if method == "lora" else model
    return {"samples_per_second": metrics["train_samples_per_second"], "processor": processor, "model": whisper,
            "precision": "bf16" if bf16 else "no"}


def child(name: str, workdir: Path, opts: argparse.Namespace) -> None:
    from shapes import attention_of

    kind, method, extra = VARIANTS[name]
    train_csv = write_manifest(workdir / "train.csv", demo_rows("train", opts.clips))
    heldout = demo_rows("heldout", opts.heldout)
    started = time.perf_counter()
    runner = run_hf if kind == "hf" else run_ours
    got = runner(method, extra, train_csv, opts.steps, workdir / name, opts)
    wall = time.perf_counter() - started
    scores = {"wer_full": float("nan"), "wer_futo": float("nan")}
    if not opts.no_wer:
        scores = heldout_wer(got["model"], got["processor"], heldout)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # KiB -> GiB
    gpu_peak = 0.0
    if opts.device == "cuda":
        import torch

        gpu_peak = torch.cuda.max_memory_allocated() / 2**30
    print(json.dumps({"variant": name, "samples_per_second": got["samples_per_second"], "peak_gib": peak,
                      "gpu_peak_gib": gpu_peak, "wall_s": wall, "precision": got["precision"],
                      "attention": attention_of(got["model"]), "load": os.getloadavg()[0], **scores}))


def baseline_scores(opts: argparse.Namespace) -> dict:
    from whisper_tune.models import load_model, load_processor

    return heldout_wer(load_model(opts.model_spec, device=opts.device), load_processor(opts.model_spec),
                       demo_rows("heldout", opts.heldout))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--heldout", type=int, default=None, help="first N held-out clips only (smoke runs)")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=sorted(VARIANTS))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--mixed-precision", default="auto", choices=("auto", "no", "bf16"),
                        help="ours (the reference is float32 except its -bf16 variants)")
    parser.add_argument("--model", default="tiny.en", choices=MODELS)
    parser.add_argument("--no-wer", action="store_true", help="skip held-out WER (random-weight models)")
    parser.add_argument("--skip-stock", action="store_true", help="do not score the stock model first")
    parser.add_argument("--repeats", type=int, default=1, help="run the variant list this many times, alternating")
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.model_spec = model_spec(args.model, Path(args.workdir))
        child(args.child, Path(args.workdir), args)
        return 0
    workdir = scratch_dir("bench-train-")
    args.model_spec = model_spec(args.model, workdir)
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}, device {args.device}"
          f"{' (' + gpu_name() + ')' if args.device == 'cuda' else ''}; load average before: {os.getloadavg()[0]:.1f}")
    print(f"model: {args.model}; data: {args.clips} demo training clips, batch {BATCH}, {args.steps} steps; "
          f"held-out: demo heldout/")
    if not (args.no_wer or args.skip_stock):
        stock = baseline_scores(args)
        print(f"stock model held-out WER: full {stock['wer_full']:.3f}, FUTO ctx {stock['wer_futo']:.3f}")
    rows = []
    passthrough = ["--steps", str(args.steps), "--clips", str(args.clips), "--device", args.device,
                   "--mixed-precision", args.mixed_precision, "--model", args.model,
                   *(["--heldout", str(args.heldout)] if args.heldout else []), *(["--no-wer"] if args.no_wer else [])]
    for _ in range(args.repeats):
        for name in args.variants:
            done = subprocess.run([sys.executable, __file__, "--child", name, "--workdir", str(workdir), *passthrough],
                                  capture_output=True, text=True)
            lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
            if done.returncode != 0 or not lines:
                print(f"{name}: failed\n{done.stderr[-2000:]}")
                continue
            rows.append(json.loads(lines[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print()
    print(table(rows))
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": args.device, "model": args.model, "rows": rows}, indent=1))
    return 0


def table(rows: list[dict]) -> str:
    """Markdown rows; the ratio is against the float32 reference of the same method and repeat."""
    lines = ["| variant | precision | attention | samples/s | x HF recipe | peak RSS GiB | GPU peak GiB | "
             "held-out WER full | held-out WER FUTO ctx | load |", "|---|---|---|---|---|---|---|---|---|---|"]
    reference: dict[str, float] = {}
    for r in rows:
        kind, method, extra = VARIANTS[r["variant"]]
        if kind == "hf" and "bf16" not in extra:
            reference[method] = r["samples_per_second"]
        ratio = r["samples_per_second"] / reference[method] if method in reference else float("nan")
        lines.append(f"| {r['variant']} | {r['precision']} | {r['attention']} | {r['samples_per_second']:.2f} | "
                     f"{ratio:.1f} | {r['peak_gib']:.2f} | {r['gpu_peak_gib']:.2f} | {r['wer_full']:.3f} | "
                     f"{r['wer_futo']:.3f} | {r['load']:.1f} |")
    return "\n".join(lines)


def gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"


if __name__ == "__main__":
    sys.exit(main())
