"""Training speed and quality: whisper-tune's `train` against a plain Hugging Face recipe.

Same model (the embedded tiny.en), same data, same settings, one run:

* data: the bundled demo dataset; training on the first ``--clips`` clips of ``train/``
  (2 to 5 s each), held-out WER on all of ``heldout/`` (new sentences, new voices);
* settings: batch 4, ``--steps`` optimizer steps, constant learning rate (1e-3 for LoRA r=8
  alpha=16 on q_proj/v_proj, 2e-5 for full fine-tuning), AdamW, float32, seed 0;
* reference: ``Seq2SeqTrainer`` + PEFT (the common fine-tuning script): features padded to
  30 s, labels from the tokenizer with the start token stripped, default collator logic;
* ours: ``whisper_tune.training.train`` with the variant's encoder-context settings.

Each variant runs in its own process (peak RSS is the process's own). Throughput is training
samples per second of training wall time (features are computed before timing for both).
Held-out WER is measured the same way for every variant (our greedy decoder and WER), at the
full 30-s context and at FUTO Voice Input's per-clip audio_ctx (ceil(samples/320) + 32).

Run: ``.venv/bin/python bench/train.py [--steps 24] [--clips 32] [--variants ...]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = {
    # name: (kind, method, extra overrides for ours)
    "hf-lora": ("hf", "lora", []),
    "hf-full": ("hf", "full", []),
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
    whisper.eval()
    for name, contexts in (
        ("full", [None] * len(clips)),
        ("futo", [futo_audio_ctx(len(c), floor=None) for c in clips]),
    ):
        hyps = [t.text for t in transcribe_clip_contexts(whisper, processor, clips, contexts, batch_size=16)]
        scores[f"wer_{name}"], _ = error_rates(refs, hyps, None)
    return scores


# --- one variant per process -----------------------------------------------------------------


def run_ours(method: str, extra: list[str], train_csv: Path, steps: int, out: Path) -> dict:
    from whisper_tune.training.config import load_train_config
    from whisper_tune.training.recipe import train

    config = load_train_config(None, [
        f"train_manifest={train_csv}", f"output_dir={out}", f"method={method}", f"max_steps={steps}",
        f"batch_size={BATCH}", f"learning_rate={LEARNING_RATE[method]}", "lr_schedule=constant",
        "lora.rank=8", "lora.alpha=16", "lora.target_modules=q_proj,v_proj", "device=cpu", "progress=false",
        "save_every=0", *extra])
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
    model = load_model(str(result.model_dir if method == "full" else out / "last"))
    return {"samples_per_second": result.samples_per_second, "processor": processor, "model": model}


def run_hf(method: str, train_csv: Path, steps: int, out: Path) -> dict:
    """The common recipe: Seq2SeqTrainer + PEFT on 30-s padded features."""
    import torch
    from transformers import Seq2SeqTrainer, Seq2SeqTrainingArguments

    from whisper_tune.audio import load_audio
    from whisper_tune.data.manifest import read_manifest
    from whisper_tune.models import load_model, load_processor

    processor = load_processor("embedded:tiny.en")
    model = load_model("embedded:tiny.en")
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
    args = Seq2SeqTrainingArguments(
        output_dir=str(out), per_device_train_batch_size=BATCH, learning_rate=LEARNING_RATE[method],
        lr_scheduler_type="constant", max_steps=steps, save_strategy="no", report_to=[], logging_steps=10_000,
        remove_unused_columns=False, label_names=["labels"], seed=0, use_cpu=True, dataloader_num_workers=0,
        disable_tqdm=True)
    trainer = Seq2SeqTrainer(model=model, args=args, train_dataset=dataset, data_collator=collate)
    metrics = trainer.train().metrics
    whisper = model.get_base_model() if method == "lora" else model
    return {"samples_per_second": metrics["train_samples_per_second"], "processor": processor, "model": whisper}


def child(name: str, workdir: Path, steps: int, clips: int, heldout_clips: int | None) -> None:
    kind, method, extra = VARIANTS[name]
    train_csv = write_manifest(workdir / "train.csv", demo_rows("train", clips))
    heldout = demo_rows("heldout", heldout_clips)
    started = time.perf_counter()
    if kind == "hf":
        got = run_hf(method, train_csv, steps, workdir / name)
    else:
        got = run_ours(method, extra, train_csv, steps, workdir / name)
    wall = time.perf_counter() - started
    scores = heldout_wer(got["model"], got["processor"], heldout)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024  # KiB -> GiB
    print(json.dumps({"variant": name, "samples_per_second": got["samples_per_second"], "peak_gib": peak,
                      "wall_s": wall, **scores}))


def baseline_scores(heldout_clips: int | None) -> dict:
    from whisper_tune.models import load_model, load_processor

    return heldout_wer(load_model("embedded:tiny.en"), load_processor("embedded:tiny.en"),
                       demo_rows("heldout", heldout_clips))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument("--heldout", type=int, default=None, help="first N held-out clips only (smoke runs)")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), choices=sorted(VARIANTS))
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.workdir), args.steps, args.clips, args.heldout)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="bench-train-"))
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.platform()}; "
          f"load average before: {os.getloadavg()[0]:.1f}")
    print(f"data: {args.clips} demo training clips, batch {BATCH}, {args.steps} steps; held-out: demo heldout/")
    stock = baseline_scores(args.heldout)
    print(f"stock tiny.en held-out WER: full {stock['wer_full']:.3f}, FUTO ctx {stock['wer_futo']:.3f}")
    rows = []
    for name in args.variants:
        done = subprocess.run([sys.executable, __file__, "--child", name, "--workdir", str(workdir),
                               "--steps", str(args.steps), "--clips", str(args.clips),
                               *(["--heldout", str(args.heldout)] if args.heldout else [])],
                              capture_output=True, text=True)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            print(f"{name}: failed\n{done.stderr[-2000:]}")
            continue
        rows.append(json.loads(lines[-1]))
        print(json.dumps(rows[-1]), flush=True)
    reference = {r["variant"].split("-")[1]: r["samples_per_second"] for r in rows if r["variant"].startswith("hf-")}
    print()
    print("| variant | samples/s | x HF recipe | peak RSS GiB | held-out WER full | held-out WER FUTO ctx |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        method = VARIANTS[r["variant"]][1]
        ratio = r["samples_per_second"] / reference[method] if method in reference else float("nan")
        print(f"| {r['variant']} | {r['samples_per_second']:.2f} | {ratio:.1f} | {r['peak_gib']:.2f} | "
              f"{r['wer_full']:.3f} | {r['wer_futo']:.3f} |")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
