"""Typed training configs: every key documented, every value checked before any work.

``LoopConfig`` holds what the generic loop (:mod:`whisper_tune.training.loop`) needs and is
shared by every objective (fine-tuning here, ACFT in :mod:`whisper_tune.acft`): a config for
a new objective subclasses it, so its keys stay flat (``learning_rate=1e-4``, not
``loop.learning_rate=...``). ``TrainConfig`` adds the fine-tuning keys: model, data,
method and the encoder-context levers.

    cfg = load_train_config("configs/tiny_lora.yaml", ["rank=16", "max_steps=200"])
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from whisper_tune.config import doc, load_config
from whisper_tune.errors import ConfigError
from whisper_tune.whisper_constants import FULL_AUDIO_CTX

METHODS = ("lora", "dora", "pissa", "full")
PRECISIONS = ("auto", "no", "fp16", "bf16")
SCHEDULES = ("constant", "linear", "cosine")
#: Whisper's linear layers; LoRA-family methods may target any of them.
WHISPER_LINEAR_MODULES = ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2")
#: A Hugging Face Hub repo id: OWNER/NAME.
_HUB_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")


@dataclass(kw_only=True)
class LoopConfig:
    """Keys of the generic training loop (any objective)."""

    output_dir: Path = field(default=Path("runs/train"), metadata=doc(
        "folder for the result, checkpoints/, metrics.jsonl, plots and summary.md"))
    seed: int = field(default=0, metadata=doc("seed for data order, dropout and initialisation", min=0))
    learning_rate: float = field(default=1e-3, metadata=doc("peak learning rate (AdamW)", min=0.0))
    lr_schedule: Literal["constant", "linear", "cosine"] = field(default="linear", metadata=doc(
        "decay after warm-up: constant, linear to 0, or cosine to 0"))
    warmup_steps: int = field(default=0, metadata=doc("optimizer steps of linear warm-up from 0", min=0))
    weight_decay: float = field(default=0.0, metadata=doc("AdamW weight decay", min=0.0))
    max_grad_norm: float = field(default=1.0, metadata=doc(
        "clip the gradient norm to this before each step; 0 turns clipping off", min=0.0))
    epochs: int = field(default=3, metadata=doc("passes over the training data (unless max_steps ends first)", min=1))
    max_steps: int = field(default=0, metadata=doc(
        "stop after this many optimizer steps; 0 = run all epochs", min=0))
    batch_size: int = field(default=8, metadata=doc("clips per micro-batch per device", min=1))
    gradient_accumulation_steps: int = field(default=1, metadata=doc(
        "micro-batches per optimizer step; the loss is the sum over all their label tokens "
        "divided by the total token count (not a mean of means)", min=1))
    mixed_precision: Literal["auto", "no", "fp16", "bf16"] = field(default="auto", metadata=doc(
        "auto = bf16 on CUDA with bf16, fp16 on other CUDA, no on CPU/MPS; bf16 also works on the "
        "CPU (fast with native bf16: AVX512-BF16 or AMX; emulated and slower without, with a "
        "warning); fp16 is refused on the CPU"))
    optimizer: Literal["auto", "fused", "foreach", "for-loop"] = field(default="auto", metadata=doc(
        "AdamW implementation: auto = fused where torch has it (CUDA, CPU with torch >= 2.4), "
        "foreach or the plain per-parameter for-loop otherwise; results agree to float rounding"))
    gradient_checkpointing: bool = field(default=False, metadata=doc(
        "recompute activations in the backward pass: less memory, ~30% slower"))
    device: str = field(default="auto", metadata=doc(
        "auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps; under accelerate launch each rank uses its own"))
    eval_every: int = field(default=0, metadata=doc(
        "evaluate every N optimizer steps (and before the first and after the last); 0 = only before and after",
        min=0))
    save_every: int = field(default=0, metadata=doc(
        "write a resumable checkpoint every N optimizer steps; 0 = only at the end", min=0))
    keep_checkpoints: int = field(default=2, metadata=doc("resumable checkpoints kept (oldest removed)", min=1))
    log_every: int = field(default=10, metadata=doc(
        "write a metrics.jsonl line (and update the progress bar's loss) every N optimizer steps; the "
        "loss is the token-weighted mean since the previous line; reading it waits for the device, "
        "so 1 slows GPU training", min=1))
    early_stopping_patience: int = field(default=0, metadata=doc(
        "stop after this many evaluations without a better score; 0 = never stop early", min=0))
    resume: str = field(default="no", metadata=doc(
        "no = start fresh (refuses a non-empty output_dir with checkpoints), auto = continue from the "
        "latest checkpoint in output_dir if any, or a checkpoint folder"))
    progress: bool = field(default=True, metadata=doc("show a progress bar (main process only)"))
    report_to: Literal["none", "tensorboard", "wandb", "trackio"] = field(default="none", metadata=doc(
        "experiment tracker that also receives loss, learning rate and every evaluation's scores "
        "(through accelerate; tensorboard writes into output_dir/tracking)"))
    push_to_hub: str | None = field(default=None, metadata=doc(
        "OWNER/NAME: after the run, push the model with a model card to this Hugging Face Hub repo "
        "(token from HF_TOKEN or huggingface-cli login)"))
    hub_private: bool = field(default=True, metadata=doc("create the push_to_hub repo as private"))

    def validate(self) -> None:
        if self.push_to_hub is not None and not _HUB_REPO.match(self.push_to_hub):
            raise ConfigError(f"push_to_hub={self.push_to_hub!r}: expected a Hub repo id OWNER/NAME "
                              "(e.g. push_to_hub=me/whisper-base-en-acft)")
        if self.resume not in ("no", "auto") and not Path(self.resume).is_dir():
            raise ConfigError(
                f"resume={self.resume!r}: expected no, auto or an existing checkpoint folder "
                "(e.g. OUTPUT_DIR/checkpoints/step-000100)"
            )


@dataclass(kw_only=True)
class LoraConfig:
    """Adapter shape for lora, dora and pissa (ignored by full)."""

    rank: int = field(default=8, metadata=doc("adapter rank r", min=1, max=1024))
    alpha: float = field(default=16.0, metadata=doc("scaling numerator: updates are scaled by alpha / rank", min=0.0))
    dropout: float = field(default=0.0, metadata=doc("dropout on the adapter input", min=0.0, max=0.9))
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "v_proj"], metadata=doc(
        "Whisper linear layers to adapt: " + ", ".join(WHISPER_LINEAR_MODULES)
        + "; prefix with encoder. or decoder. to adapt one side only (e.g. decoder.q_proj)"))

    def validate(self) -> None:
        if not self.target_modules:
            raise ConfigError("lora.target_modules is empty; expected at least one of "
                              + ", ".join(WHISPER_LINEAR_MODULES))
        for name in self.target_modules:
            short = name.split(".", 1)[1] if name.startswith(("encoder.", "decoder.")) else name
            if short not in WHISPER_LINEAR_MODULES:
                raise ConfigError(
                    f"lora.target_modules: {name!r} is not a Whisper linear layer; expected one of "
                    + ", ".join(WHISPER_LINEAR_MODULES) + " (optionally prefixed with encoder. or decoder.)"
                )


@dataclass(kw_only=True)
class TrainConfig(LoopConfig):
    """``whisper-tune train``: supervised fine-tuning of a Whisper model on a manifest."""

    model: str = field(default="embedded:tiny.en", metadata=doc(
        "model spec: embedded:tiny.en, an HF or CTranslate2 folder, or a hub id"))
    train_manifest: Path | None = field(default=None, metadata=doc(
        "manifest CSV of the training clips (whisper-tune manifest build), or a dataset with an audio "
        "and a text/sentence column: hf:OWNER/NAME[@SPLIT] on the Hub or a save_to_disk folder[@SPLIT]; "
        "required"))
    validation_manifest: Path | None = field(default=None, metadata=doc(
        "manifest CSV (or dataset, as train_manifest) for WER/CER evaluation by real decoding; "
        "empty = no evaluation"))
    method: Literal["lora", "dora", "pissa", "full"] = field(default="lora", metadata=doc(
        "lora, dora (weight-decomposed LoRA), pissa (LoRA initialised from principal components; "
        "saved converted to plain LoRA) or full (every weight)"))
    lora: LoraConfig = field(default_factory=LoraConfig, metadata=doc("adapter settings"))
    language: str | None = field(default=None, metadata=doc(
        "language code for multilingual models (en, de, ...); must be empty for English-only (.en) models"))
    task: Literal["transcribe", "translate"] = field(default="transcribe", metadata=doc(
        "task token for multilingual models"))
    timestamps: bool = field(default=False, metadata=doc(
        "train with timestamp tokens (one segment per clip) instead of <|notimestamps|>"))
    max_label_tokens: int = field(default=200, metadata=doc(
        "clips whose transcript needs more tokens are refused before training", min=8, max=440))
    encoder_context: Literal["full", "clip"] = field(default="clip", metadata=doc(
        "full = the encoder sees 30 s padded audio (1500 positions); clip = only the batch's own "
        "frames, ceil(50 x seconds) + clip_ctx_offset positions (as whisper.cpp's audio_ctx): "
        "several times faster on short clips"))
    clip_ctx_offset: int = field(default=32, metadata=doc(
        "extra encoder positions after the speech in clip mode (FUTO uses 32)", min=0, max=FULL_AUDIO_CTX))
    full_context_fraction: float = field(default=0.0, metadata=doc(
        "in clip mode, the share of batches trained on the full 30 s context instead", min=0.0, max=1.0))
    cache_encoder_outputs: bool = field(default=False, metadata=doc(
        "compute each clip's encoder output once and reuse it (only when nothing in the encoder "
        "trains: decoder-only target_modules)"))
    feature_cache: bool = field(default=True, metadata=doc(
        "keep log-mel features in whisper-tune's cache folder so audio is decoded once per machine"))
    eval_audio_ctx: Literal["full", "futo", "both"] = field(default="both", metadata=doc(
        "evaluate WER on the full context, on FUTO Voice Input's per-clip audio_ctx, or both "
        "(the best checkpoint is chosen on full unless only futo is measured)"))
    eval_batch_size: int = field(default=16, metadata=doc("clips per decoding batch in evaluation", min=1))
    eval_max_clips: int = field(default=0, metadata=doc(
        "evaluate on the first N validation clips only; 0 = all", min=0))
    merge: bool = field(default=False, metadata=doc(
        "also write the adapter merged into the base as a complete model in output_dir/merged"))

    def validate(self) -> None:
        LoopConfig.validate(self)
        self.lora.validate()
        if self.train_manifest is None:
            raise ConfigError("train_manifest is not set; give the training manifest CSV "
                              "(e.g. train_manifest=data/train.csv)")
        if self.cache_encoder_outputs:
            encoder_trains = self.method == "full" or any(
                not name.startswith("decoder.") for name in self.lora.target_modules)
            if encoder_trains:
                raise ConfigError(
                    f"cache_encoder_outputs=true needs a decoder-only method, but method={self.method} "
                    f"with target_modules={self.lora.target_modules} trains the encoder; use "
                    "decoder-prefixed modules (e.g. decoder.q_proj,decoder.v_proj) or turn the cache off"
                )


def load_train_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> TrainConfig:
    """Load and validate a :class:`TrainConfig` (YAML or JSON) with ``key=value`` overrides.

    Relative manifest paths in the file are taken relative to the config file's folder when
    they exist there, so a config can travel with its data.
    """
    config = load_config(TrainConfig, path, overrides)
    if path is not None:
        config = _relative_to(config, Path(path).parent)
    return config


def _relative_to(config: TrainConfig, folder: Path) -> TrainConfig:
    for name in ("train_manifest", "validation_manifest"):
        value = getattr(config, name)
        if value is not None and not value.is_absolute() and not value.exists() and (folder / value).exists():
            setattr(config, name, folder / value)
    return config
