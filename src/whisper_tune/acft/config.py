"""AcftConfig: everything ``whisper-tune acft`` reads, validated before any work starts.

It extends the generic loop's :class:`~whisper_tune.training.config.LoopConfig`, so the loop
keys (learning_rate, epochs, batch_size, mixed_precision, save_every, resume, ...) are the
same as ``train``'s and stay flat. Defaults are FUTO's (futo-org/whisper-acft; docs/ACFT.md):
every parameter, Adam (AdamW with weight decay 0 is Adam), constant learning rate 1e-6,
8 epochs, clips up to 29 s, no gradient clipping, no cross-entropy. Three deliberate
departures, all settable back: batches of 8 (FUTO: 1) that share one context, a context
sampler that also covers FUTO's deployed formulas, and a small share of full-context batches
that anchor the model where it was already right (:mod:`whisper_tune.acft.context`).

    cfg = load_acft_config("configs/acft_tiny.yaml", ["learning_rate=1e-5", "epochs=2"])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from whisper_tune.config import doc, load_config
from whisper_tune.errors import ConfigError
from whisper_tune.training.config import WHISPER_LINEAR_MODULES, LoopConfig, LoraConfig
from whisper_tune.whisper_constants import CHUNK_SECONDS, FULL_AUDIO_CTX


@dataclass(kw_only=True)
class ContextConfig:
    """How training contexts are drawn: relative weights of the four schemes."""

    jitter_weight: float = field(default=0.4, metadata=doc(
        "FUTO's notebook: round(50*s) + jitter in [-min(64, n//3), min(64, n//3))", min=0.0))
    deployed_weight: float = field(default=0.3, metadata=doc(
        "FUTO Voice Input: ceil(samples/320) + one of `offsets`", min=0.0))
    deployed_floor_weight: float = field(default=0.2, metadata=doc(
        "FUTO Keyboard: the same, but at least `floor` positions", min=0.0))
    full_weight: float = field(default=0.1, metadata=doc(
        "the full 1500 positions, an anchor that keeps full-context behaviour (not in FUTO's "
        "notebook; 0 = FUTO's mix)", min=0.0))
    offsets: list[int] = field(default_factory=lambda: [8, 32, 64], metadata=doc(
        "offsets (positions of 20 ms) for the deployed schemes; FUTO deploys +32"))
    floor: int = field(default=160, metadata=doc("FUTO Keyboard's minimum context", min=0, max=FULL_AUDIO_CTX))
    max_jitter: int = field(default=64, metadata=doc("FUTO's jitter limit in positions", min=0, max=FULL_AUDIO_CTX))

    def weights(self) -> dict[str, float]:
        return {"jitter": self.jitter_weight, "deployed": self.deployed_weight,
                "deployed_floor": self.deployed_floor_weight, "full": self.full_weight}

    def validate(self) -> None:
        if sum(self.weights().values()) <= 0:
            raise ConfigError("context.*_weight are all 0; give at least one scheme a positive weight")
        if any(not 0 <= o <= FULL_AUDIO_CTX for o in self.offsets):
            raise ConfigError(f"context.offsets={self.offsets}: each offset must be 0 to {FULL_AUDIO_CTX} positions")
        if (self.deployed_weight or self.deployed_floor_weight) and not self.offsets:
            raise ConfigError("context.offsets is empty but a deployed scheme has weight; give e.g. [32]")


def _acft_lora() -> LoraConfig:
    # ACFT changes how the encoder reads a short input, so the adapter covers every linear
    # layer of both stacks (a q/v-only adapter leaves the MLPs, where most of it happens, frozen).
    return LoraConfig(rank=32, alpha=64.0, target_modules=list(WHISPER_LINEAR_MODULES))


@dataclass(kw_only=True)
class AcftConfig(LoopConfig):
    """``whisper-tune acft``: FUTO's audio-context fine-tuning of a (fine-tuned) model."""

    output_dir: Path = field(default=Path("runs/acft"), metadata=doc(
        "run folder: last/ (the ACFT model), best/ (with an eval manifest), checkpoints/, metrics.jsonl"))
    learning_rate: float = field(default=1e-6, metadata=doc("Adam learning rate (FUTO: 1e-6)", min=0.0))
    lr_schedule: Literal["constant", "linear", "cosine"] = field(default="constant", metadata=doc(
        "decay after warm-up (FUTO: constant)"))
    epochs: int = field(default=8, metadata=doc("passes over the training clips (FUTO: 8)", min=1))
    max_grad_norm: float = field(default=0.0, metadata=doc(
        "clip the gradient norm to this; 0 = no clipping (FUTO)", min=0.0))
    batch_size: int = field(default=8, metadata=doc(
        "clips per micro-batch; a batch shares one encoder context (FUTO: 1)", min=1))

    model: str = field(default="", metadata=doc(
        "model spec, normally train's output: a merged model folder or an adapter folder (merged "
        "first), or embedded:tiny.en, a CTranslate2 folder, a hub id; required"))
    train_manifest: Path | None = field(default=None, metadata=doc(
        "manifest CSV of training clips, or a dataset (hf:OWNER/NAME[@SPLIT] on the Hub or a "
        "save_to_disk folder[@SPLIT]) with audio and text/sentence columns; transcripts only probe the "
        "decoder (distillation), so synthesized speech works; required"))
    eval_manifest: Path | None = field(default=None, metadata=doc(
        "optional manifest: held-out distillation loss at FUTO's context (the best/ model is chosen by it)"))
    eval_max_clips: int = field(default=64, metadata=doc("evaluate on at most this many eval clips (0 = all)", min=0))
    method: Literal["full", "lora"] = field(default="full", metadata=doc(
        "full = every parameter (FUTO); lora = a LoRA adapter, merged into the saved model"))
    lora: LoraConfig = field(default_factory=_acft_lora, metadata=doc("adapter settings (method: lora)"))
    max_clip_seconds: float = field(default=29.0, metadata=doc(
        "clips longer than this are skipped (FUTO: 29)", min=0.1, max=float(CHUNK_SECONDS)))
    lowercase: bool = field(default=False, metadata=doc(
        "lowercase transcripts before tokenizing (FUTO trained on lowercased FLEURS)"))
    language: str | None = field(default=None, metadata=doc(
        "language code for multilingual models (required for them: the language token is fixed)"))
    task: Literal["transcribe", "translate"] = field(default="transcribe", metadata=doc("task token"))
    context: ContextConfig = field(default_factory=ContextConfig, metadata=doc("context sampling"))
    cache_reference: bool = field(default=True, metadata=doc(
        "compute the frozen reference's hidden states once per clip and reuse them every epoch"))
    feature_cache: bool = field(default=True, metadata=doc(
        "keep log-mel features in whisper-tune's cache folder so audio is decoded once per machine"))

    def validate(self) -> None:
        LoopConfig.validate(self)
        if not self.model:
            raise ConfigError("model is not set; give the model to ACFT (e.g. model=runs/train/best)")
        if self.train_manifest is None:
            raise ConfigError("train_manifest is not set; give the training manifest CSV "
                              "(e.g. train_manifest=data/acft.csv)")
        self.context.validate()
        if self.method == "lora":
            self.lora.validate()


def load_acft_config(path: str | os.PathLike[str] | None, overrides: Sequence[str] = ()) -> AcftConfig:
    """Load and validate an :class:`AcftConfig` (YAML or JSON) with ``key=value`` overrides.

    Relative manifest paths in the file are taken relative to the config file's folder when
    they exist there (as ``train`` does), so a config can travel with its data.
    """
    config = load_config(AcftConfig, path, overrides)
    if path is not None:
        folder = Path(path).parent
        for name in ("train_manifest", "eval_manifest"):
            value = getattr(config, name)
            if value is not None and not value.is_absolute() and not value.exists() and (folder / value).exists():
                setattr(config, name, folder / value)
    return config
