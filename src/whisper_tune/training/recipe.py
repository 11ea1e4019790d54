"""``train(config)``: supervised fine-tuning of Whisper = the fine-tuning task + the loop.

:class:`FineTuneTask` implements :class:`whisper_tune.training.loop.TrainingTask`:
cross-entropy over label tokens (sum, divided by the loop by the step's token count), the
encoder on the full 30 s context or on the batch's own frames (``encoder_context=clip``,
whisper.cpp's ``audio_ctx``), optional cached encoder outputs for decoder-only adapters, and
evaluation by real greedy decoding (WER/CER at full context and at FUTO Voice Input's
per-clip context).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from whisper_tune.audio import load_audio
from whisper_tune.config import dump_yaml
from whisper_tune.data.dataset import SpeechDataset
from whisper_tune.data.features import FeatureCache
from whisper_tune.data.manifest import read_manifest
from whisper_tune.data.training_data import resolve_manifest
from whisper_tune.errors import ConfigError
from whisper_tune.evaluation.metrics import corpus_errors
from whisper_tune.merge import merge_adapter
from whisper_tune.models import load_model, load_processor, resolve_model
from whisper_tune.models.attention import training_attention
from whisper_tune.models.hf_folder import set_generation_prompt
from whisper_tune.models.short_encoder import encode_short, futo_audio_ctx
from whisper_tune.training.activation_checkpointing import enable_gradient_checkpointing
from whisper_tune.training.adapters import apply_method, save_trained
from whisper_tune.training.batching import BatchSettings, TrainingData
from whisper_tune.training.config import TrainConfig
from whisper_tune.training.labels import clip_prompts, encode_transcripts, training_language
from whisper_tune.training.loop import LoopResult, run_loop
from whisper_tune.transcribe.hf import SpecialTokens, transcribe_clip_contexts
from whisper_tune.transcribe.types import DecodeOptions
from whisper_tune.whisper_constants import FULL_AUDIO_CTX

log = logging.getLogger(__name__)

MERGED_DIR = "merged"


@dataclass
class TrainResult:
    """What ``train`` produced: the deliverable folder and the before/after scores."""

    output_dir: Path
    model_dir: Path  # the adapter (or full model) to use: best by validation WER, else the last
    merged_dir: Path | None
    steps: int
    final_loss: float | None
    baseline: dict[str, float] = field(default_factory=dict)
    final: dict[str, float] = field(default_factory=dict)
    best_metric: float | None = None
    samples_per_second: float = 0.0
    stopped_early: bool = False


class WhisperLoss(nn.Module):
    """``forward(batch)`` -> summed token cross-entropy of a Whisper model (PEFT-wrapped or not)."""

    def __init__(self, model: nn.Module, whisper: nn.Module, cache_encoder_outputs: bool = False) -> None:
        super().__init__()
        self.model = model  # registered so that checkpoints and DDP see every parameter
        self._whisper = [whisper]  # the same modules, unwrapped; a list keeps it out of the registry
        self.encoder_cache: dict[tuple[str, int], torch.Tensor] | None = {} if cache_encoder_outputs else None

    @property
    def whisper(self) -> Any:
        # Any: a WhisperForConditionalGeneration whose submodules are reached by name
        return self._whisper[0]

    def forward(self, batch: dict[str, Any]) -> torch.Tensor:
        with training_attention(self.whisper, batch["decoder_input_ids"].device, batch["n_ctx"]):
            states = self.encoder_states(batch)
            decoder = self.whisper.model.decoder
            hidden = decoder(input_ids=batch["decoder_input_ids"], encoder_hidden_states=states,
                             use_cache=False).last_hidden_state
        # Only positions with a label reach the vocabulary projection (51k columns: the
        # costliest matrix product of a short clip's step), so padding costs no logits.
        real = hidden.reshape(-1, hidden.shape[-1]).index_select(0, batch["label_positions"])
        logits = self.whisper.proj_out(real).float()
        return nn.functional.cross_entropy(logits, batch["label_targets"], reduction="sum")

    def encoder_states(self, batch: dict[str, Any]) -> torch.Tensor:
        if self.encoder_cache is None:
            return self._encode(batch["input_features"], batch["n_ctx"])
        n_ctx, ids = batch["n_ctx"], batch["ids"]
        missing = [i for i, clip in enumerate(ids) if (clip, n_ctx) not in self.encoder_cache]
        if missing:
            with torch.no_grad():
                computed = self._encode(batch["input_features"][missing], n_ctx)
            for row, index in enumerate(missing):
                self.encoder_cache[(ids[index], n_ctx)] = computed[row].detach()
        return torch.stack([self.encoder_cache[(clip, n_ctx)] for clip in ids])

    def _encode(self, features: torch.Tensor, n_ctx: int) -> torch.Tensor:
        if n_ctx >= FULL_AUDIO_CTX:
            return self.whisper.model.encoder(features).last_hidden_state
        return encode_short(self.whisper, features, n_ctx)


class FineTuneTask:
    """Supervised fine-tuning on a manifest (the loop's TrainingTask)."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        # Read the manifests first: a bad path or row fails before any model is loaded. A
        # dataset (hf:OWNER/NAME, a save_to_disk folder) becomes a manifest here, once.
        assert config.train_manifest is not None, "TrainConfig.validate() requires train_manifest"
        self.train_rows = read_manifest(resolve_manifest(config.train_manifest))
        self.validation_rows = (read_manifest(resolve_manifest(config.validation_manifest))
                                if config.validation_manifest else [])
        if config.eval_max_clips:
            self.validation_rows = self.validation_rows[: config.eval_max_clips]
        self.metric = "wer_futo" if config.eval_audio_ctx == "futo" else "wer"
        self.validation_audio: list[Any] = []

    # --- TrainingTask -------------------------------------------------------------------------

    def setup(self, accelerator: Any) -> nn.Module:
        cfg = self.config
        self.resolved = resolve_model(cfg.model)  # every rank resolves; the resolver holds a file lock
        if self.resolved.adapter is not None:
            raise ConfigError(f"model={cfg.model!r} is an adapter; merge it first (whisper-tune merge) and train "
                              "on the merged folder, so that the new adapter has a complete base")
        self.device = accelerator.device
        model = load_model(self.resolved, dtype=torch.float32, device="cpu")
        self.processor = load_processor(self.resolved)
        self.special = SpecialTokens.from_model(model)
        examples = self._examples()
        # The saved model (and a merge of its adapter) decodes as it was trained.
        language = training_language(self.special, [r.language for r in self.train_rows], cfg.language)
        set_generation_prompt(model, language, cfg.task)
        dataset = SpeechDataset(self.train_rows, self.processor, FeatureCache() if cfg.feature_cache else None)
        settings = BatchSettings(cfg.batch_size, cfg.encoder_context, cfg.clip_ctx_offset,
                                 cfg.full_context_fraction, cfg.seed)
        self.data = TrainingData(dataset, examples, settings)
        self.adapted = apply_method(model, cfg.method, cfg.lora, Path(cfg.output_dir),
                                    save_initial=accelerator.is_main_process)
        if cfg.gradient_checkpointing:
            enable_gradient_checkpointing(self.adapted.whisper)
        self.module = WhisperLoss(self.adapted.model, self.adapted.whisper, cfg.cache_encoder_outputs)
        self.module.to(self.device).train()
        if accelerator.is_main_process:
            self._load_validation_audio()
        return self.module

    def batch_plan(self, epoch: int) -> list[list[int]]:
        return self.data.batch_plan(epoch)

    def collate(self, indices: Sequence[int], step: int) -> dict[str, Any]:
        return self.data.collate(indices, step, self.device)

    def loss_units(self, batch: dict[str, Any]) -> int:
        return int(batch["label_tokens"])  # counted on the host by collate: no device sync

    def evaluate(self, module: nn.Module) -> dict[str, float]:
        if not self.validation_rows:
            return {}

        scores: dict[str, float] = {}
        if self.config.eval_audio_ctx in ("full", "both"):
            scores.update(self._score([None] * len(self.validation_audio), ""))
        if self.config.eval_audio_ctx in ("futo", "both"):
            contexts = [futo_audio_ctx(len(a), floor=None) for a in self.validation_audio]
            scores.update(self._score(contexts, "_futo"))
        return scores

    def save(self, module: nn.Module, out_dir: Path) -> None:
        save_trained(self.adapted, out_dir, self.config.model, self.resolved.path)

    def summary_info(self) -> dict[str, str]:
        cfg = self.config
        method = cfg.method if cfg.method == "full" else (
            f"{cfg.method} r={cfg.lora.rank} alpha={cfg.lora.alpha} on {','.join(cfg.lora.target_modules)}")
        context = cfg.encoder_context if cfg.encoder_context == "full" else (
            f"clip (+{cfg.clip_ctx_offset} positions, full context {cfg.full_context_fraction:.0%} of steps)")
        return {"model": cfg.model, "method": method, "encoder context": context,
                "training clips": str(len(self.train_rows)),
                "validation clips": str(len(self.validation_rows)),
                "batch": f"{cfg.batch_size} x {cfg.gradient_accumulation_steps} accumulation",
                "learning rate": f"{cfg.learning_rate:g} ({cfg.lr_schedule}, {cfg.warmup_steps} warm-up steps)"}

    # --- helpers ---------------------------------------------------------------------------

    def _examples(self) -> list[Any]:
        cfg = self.config
        rows = self.train_rows
        ids = [r.id for r in rows]
        prompts = clip_prompts(self.special, [r.language for r in rows], ids, cfg.language, cfg.task, cfg.timestamps)
        return encode_transcripts(self.processor.tokenizer, self.special, [r.text for r in rows],
                                  ids, [r.duration for r in rows], prompts,
                                  cfg.timestamps, cfg.max_label_tokens)

    def _load_validation_audio(self) -> None:
        self.validation_audio = [load_audio(row.audio) for row in self.validation_rows]

    def _score(self, contexts: Sequence[int | None], suffix: str) -> dict[str, float]:
        # The clips' own language when they share one (a multilingual model must not guess it).
        language = training_language(self.special, [r.language for r in self.validation_rows], self.config.language)
        options = DecodeOptions(language=language or self.config.language, task=self.config.task)
        transcripts = transcribe_clip_contexts(self.adapted.whisper, self.processor, self.validation_audio,
                                               contexts, options, batch_size=self.config.eval_batch_size)
        references = [row.text for row in self.validation_rows]
        hypotheses = [t.text for t in transcripts]
        # each clip scored in its own language (the shared one when the manifest gives none)
        languages = [row.language or language or self.config.language for row in self.validation_rows]
        wer, cer = error_rates(references, hypotheses, languages)
        return {f"wer{suffix}": round(wer, 6), f"cer{suffix}": round(cer, 6)}


def error_rates(
    references: list[str], hypotheses: list[str], languages: Sequence[str | None] | str | None
) -> tuple[float, float]:
    """Corpus WER and CER after Whisper's normalisation, each clip in its own language (None:
    English; English-only models train without a language key)."""
    wer = corpus_errors(references, hypotheses, languages, "word").rate
    cer = corpus_errors(references, hypotheses, languages, "char").rate
    return wer, cer


def train(config: TrainConfig, accelerator: Any = None) -> TrainResult:
    """Fine-tune ``config.model`` on ``config.train_manifest``; see :class:`TrainConfig`."""
    task = FineTuneTask(config)
    loop: LoopResult = run_loop(task, config, accelerator, config_yaml=dump_yaml(config))
    merged = None
    if config.merge:
        merged = _merge(loop, config, accelerator)
    return TrainResult(
        output_dir=loop.output_dir, model_dir=loop.model_dir, merged_dir=merged, steps=loop.steps,
        final_loss=loop.final_loss, baseline=loop.baseline, final=loop.final, best_metric=loop.best_metric,
        samples_per_second=loop.samples_per_second, stopped_early=loop.stopped_early,
    )


def _merge(loop: LoopResult, config: TrainConfig, accelerator: Any) -> Path | None:
    """The adapter merged into its base as a complete folder (main process; full: nothing to merge)."""
    if config.method == "full":
        log.info("method=full already wrote a complete model in %s; nothing to merge", loop.model_dir)
        return loop.model_dir
    from accelerate.state import PartialState

    target = Path(config.output_dir) / MERGED_DIR
    if PartialState().is_main_process:
        merge_adapter(loop.model_dir, target)
    PartialState().wait_for_everyone()
    return target
