"""``run_acft``: ACFT as an TrainingTask of the one training loop (:mod:`whisper_tune.training.loop`).

The loop owns optimizer, mixed precision, accumulation, checkpoints/resume, progress and
metrics.jsonl; this module says what ACFT trains on and how it is scored:

* data: the train manifest's clips up to ``max_clip_seconds`` (longer ones are skipped and
  counted), log-mel from the feature cache, the transcript tokenized once as the probe;
* batches: clips of similar length (``length_grouped_batches``); each batch gets ONE context,
  drawn by :class:`~whisper_tune.acft.context.ContextSampler` for its longest clip from
  ``(seed, step, clip ids)``, so the short encoder runs batched and a resumed run redraws the
  same contexts;
* loss: :class:`~whisper_tune.acft.distillation_loss.AcftDistillationLoss` (MSE over all decoder hidden
  states against the frozen full-context reference), summed over token positions so the
  loop's token-weighted mean is exact across accumulation;
* evaluation (with ``eval_manifest``): held-out distillation loss at FUTO Voice Input's
  context (``ceil(samples/320) + 32``; the metric, lower is better) and at the full context
  (how far the model drifted where it was already right);
* result: a complete HF model folder (LoRA merged) with the source's tokenizer, feature
  extractor and generation config, and ``config.json["whisper_tune"]`` = ``{"acft": true,
  "acft_steps": N, "base": SPEC, "method": ...}`` so export can name it ``*_acft_*``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from whisper_tune.acft.config import AcftConfig
from whisper_tune.acft.context import ContextSampler
from whisper_tune.acft.distillation_loss import AcftBatch, AcftDistillationLoss, ProbeTokenizer, collate, decoder_of
from whisper_tune.config import dump_yaml
from whisper_tune.data.dataset import SpeechDataset, length_grouped_batches
from whisper_tune.data.features import FeatureCache
from whisper_tune.data.manifest import read_manifest
from whisper_tune.data.training_data import resolve_manifest
from whisper_tune.errors import DataError, TrainingError
from whisper_tune.fileio import atomic_write_json
from whisper_tune.merge import TOKENIZER_FILES
from whisper_tune.models import load_model, load_processor, resolve_model
from whisper_tune.models.hf_folder import set_generation_prompt
from whisper_tune.models.short_encoder import FUTO_OFFSET, clamp_audio_ctx
from whisper_tune.training.activation_checkpointing import enable_gradient_checkpointing
from whisper_tune.training.adapters import apply_method, portable_spec
from whisper_tune.training.labels import training_language
from whisper_tune.training.lookup_gradient import LookupGradient
from whisper_tune.training.loop import run_loop
from whisper_tune.transcribe.hf import SpecialTokens
from whisper_tune.whisper_constants import FULL_AUDIO_CTX, SAMPLE_RATE, SAMPLES_PER_POSITION

log = logging.getLogger(__name__)

#: The marker export reads (whisper_tune.export.file_names.identify).
MARKER_KEY = "whisper_tune"


@dataclass
class AcftResult:
    """What :func:`run_acft` produced: ``model_dir`` is the ACFT model folder."""

    model_dir: Path
    output_dir: Path
    steps: int
    final_loss: float | None
    baseline: dict[str, float]
    final: dict[str, float]
    skipped_clips: int
    seconds: float


class _Student(nn.Module):
    """The module the loop trains: ``forward(batch)`` = summed ACFT loss of the batch."""

    def __init__(self, student: nn.Module, distillation: AcftDistillationLoss) -> None:
        super().__init__()
        self.student = student
        # A plain attribute, not a submodule: the frozen reference inside it stays out of the
        # optimizer and the checkpoints.
        self.distillation = distillation

    def forward(self, batch: AcftBatch) -> torch.Tensor:
        loss, _ = self.distillation.loss(self.student, batch)
        return loss * batch.units


class AcftTask:
    """ACFT as a :class:`whisper_tune.training.loop.TrainingTask`."""

    metric = "mse_futo"

    def __init__(self, config: AcftConfig) -> None:
        self.config = config
        self.steps_done = 0
        self.skipped = 0
        self.lookup_gradient: LookupGradient | None = None

    # --- TrainingTask protocol ---------------------------------------------------------------

    def setup(self, accelerator: Any) -> nn.Module:
        cfg = self.config
        self.device = accelerator.device
        self.resolved = resolve_model(cfg.model)
        self.processor = load_processor(self.resolved)
        model = load_model(self.resolved, dtype=torch.float32, device=self.device)
        reference = copy.deepcopy(model)
        self.special = SpecialTokens.from_model(model)
        self.probe = ProbeTokenizer(self.processor.tokenizer, self.special, cfg.language, cfg.task,
                                    int(model.config.max_target_positions), cfg.lowercase)
        assert cfg.train_manifest is not None, "AcftConfig.validate() requires train_manifest"
        self.train = self._load_split(cfg.train_manifest, "train")
        if not self.train.rows:
            raise DataError(f"{cfg.train_manifest}: no clips of {cfg.max_clip_seconds} s or less to train on")
        self.eval = self._load_split(cfg.eval_manifest, "eval", cfg.eval_max_clips) if cfg.eval_manifest else None
        self.sampler = ContextSampler(weights=cfg.context.weights(), offsets=tuple(cfg.context.offsets),
                                      floor=cfg.context.floor, max_jitter=cfg.context.max_jitter, seed=cfg.seed)
        self.distillation = AcftDistillationLoss(reference, cache_reference=cfg.cache_reference)
        self.adapted = apply_method(model.train(), cfg.method, cfg.lora)
        if cfg.gradient_checkpointing:  # the student only: the reference runs without gradients
            enable_gradient_checkpointing(self.adapted.whisper)
        self._reuse_embedding_gradient(accelerator)
        return _Student(self.adapted.model, self.distillation)

    def batch_plan(self, epoch: int) -> list[list[int]]:
        return length_grouped_batches(self.train.frames, self.config.batch_size, self.config.seed, epoch)

    def collate(self, indices: Sequence[int], step: int) -> AcftBatch:
        self.steps_done = step + 1
        split = self.train
        longest = max(split.samples[i] for i in indices)
        key = ",".join(sorted(split.rows[i].id for i in indices))
        n_ctx = self.sampler.sample(longest, step, key)
        return split.batch(indices, n_ctx, self.special.eot).to(self.device)

    def loss_units(self, batch: AcftBatch) -> int:
        return batch.units

    @torch.no_grad()
    def evaluate(self, module: nn.Module) -> dict[str, float]:
        if self.eval is None:
            return {}
        student = module.student if isinstance(module, _Student) else module
        sums = {"mse_futo": 0.0, "mse_full": 0.0}
        units = 0
        for indices in _sorted_chunks(self.eval.frames, self.config.batch_size):
            longest = max(self.eval.samples[i] for i in indices)
            futo = clamp_audio_ctx(math.ceil(longest / SAMPLES_PER_POSITION) + FUTO_OFFSET)
            for name, n_ctx in (("mse_futo", futo), ("mse_full", FULL_AUDIO_CTX)):
                batch = self.eval.batch(indices, n_ctx, self.special.eot, prefix="eval:").to(self.device)
                loss, _ = self.distillation.loss(student, batch)
                sums[name] += float(loss) * batch.units
            units += batch.units
        return {name: round(total / max(units, 1), 6) for name, total in sums.items()}

    def save(self, module: nn.Module, out_dir: Path) -> None:
        student = module.student if isinstance(module, _Student) else module

        language = training_language(self.special, [row.language for row in self.train.rows], self.config.language)
        save_acft_model(student, self.config, Path(out_dir), self.resolved.path, self.steps_done, language)

    def summary_info(self) -> dict[str, str]:
        cfg = self.config
        return {
            "objective": "ACFT (FUTO audio-context fine-tuning): MSE over all decoder hidden states",
            "model": cfg.model,
            "method": cfg.method,
            "train clips": f"{len(self.train.rows)} ({self.skipped} over {cfg.max_clip_seconds} s skipped)",
            "eval clips": str(len(self.eval.rows)) if self.eval else "none",
            "reference cache": f"{'on' if cfg.cache_reference else 'off'} "
                               f"({self.distillation.reference_forwards} reference encoder runs)",
        }

    # --- helpers ------------------------------------------------------------------------------

    def _reuse_embedding_gradient(self, accelerator: Any) -> None:
        """The student's token embedding is only looked up here (no logits): on one CPU process
        its gradient is built in one kept buffer (:mod:`whisper_tune.training.lookup_gradient`)."""
        embedding = decoder_of(self.adapted.model).embed_tokens
        if embedding.weight.requires_grad and self.device.type == "cpu" and accelerator.num_processes == 1:
            self.lookup_gradient = LookupGradient(embedding)

    def _load_split(self, manifest: Path, name: str, limit: int = 0) -> _Split:
        rows = read_manifest(resolve_manifest(manifest))
        kept = [row for row in rows if row.duration <= self.config.max_clip_seconds]
        skipped = len(rows) - len(kept)
        if skipped:
            log.info("%s: skipped %d of %d clips longer than %.1f s", manifest, skipped, len(rows),
                     self.config.max_clip_seconds)
        if name == "train":
            self.skipped = skipped
        if limit:
            kept = kept[:limit]
        cache = FeatureCache() if self.config.feature_cache else None
        dataset = SpeechDataset(kept, self.processor, cache=cache)
        return _Split(dataset, [self.probe(row.text, row.language) for row in kept])


class _Split:
    """Clips of one manifest with their probe tokens and lengths."""

    def __init__(self, dataset: Any, tokens: list[list[int]]) -> None:
        self.dataset = dataset
        self.rows = dataset.rows
        self.tokens = tokens
        self.frames = dataset.lengths()
        self.samples = [max(1, round(row.duration * SAMPLE_RATE)) for row in self.rows]

    def batch(self, indices: Sequence[int], n_ctx: int, pad_id: int, prefix: str = "") -> AcftBatch:
        items = []
        for index in indices:
            item = self.dataset[index]
            items.append({"input_features": item["input_features"], "tokens": self.tokens[index],
                          "id": prefix + self.rows[index].id})
        return collate(items, n_ctx, pad_id)


def _sorted_chunks(lengths: Sequence[int], size: int) -> list[list[int]]:
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    return [order[i : i + size] for i in range(0, len(order), size)]


def save_acft_model(student: nn.Module, config: AcftConfig, out_dir: Path, source_dir: Path, steps: int,
                    language: str | None = None) -> Path:
    """Write ``student`` (LoRA merged into a copy) as a complete HF folder with the ACFT marker;
    its generation config decodes in ``language`` (the one the clips trained in) and the task."""
    model: Any = student  # a Whisper model or PEFT wrapper: save_pretrained is reached by name
    if hasattr(student, "merge_and_unload"):  # PEFT: merge a copy, training goes on
        model = copy.deepcopy(model).merge_and_unload()
    set_generation_prompt(model, language, config.task)
    model.save_pretrained(out_dir, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (Path(source_dir) / name).is_file():
            shutil.copyfile(Path(source_dir) / name, out_dir / name)
    config_file = out_dir / "config.json"
    data = json.loads(config_file.read_text(encoding="utf-8"))
    marker = data.get(MARKER_KEY) if isinstance(data.get(MARKER_KEY), dict) else {}
    marker.update({"acft": True, "acft_steps": int(steps), "base": _portable(config.model),
                   "acft_method": config.method})
    data[MARKER_KEY] = marker

    atomic_write_json(config_file, data)
    return out_dir


def _portable(spec: str) -> str:
    return portable_spec(spec)


def run_acft(config: AcftConfig, config_yaml: str | None = None, accelerator: Any = None) -> AcftResult:
    """Run ACFT as configured; returns where the ACFT model is and what the run measured.

    ``accelerator``: an ``accelerate.Accelerator`` to use (default: one made from the config)."""
    started = time.perf_counter()
    task = AcftTask(config)
    result = run_loop(task, config, accelerator, config_yaml=config_yaml or dump_yaml(config))
    model_dir = result.last_dir if task.eval is None else result.model_dir
    if not (model_dir / "config.json").is_file():
        raise TrainingError(f"{model_dir}: the run finished without writing the ACFT model")
    return AcftResult(model_dir, result.output_dir, result.steps, result.final_loss, result.baseline,
                      result.final, task.skipped, time.perf_counter() - started)
