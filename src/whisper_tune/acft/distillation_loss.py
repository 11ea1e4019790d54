"""The ACFT loss: make the short-context student's decoder match the full-context reference.

FUTO's method (futo-org/whisper-acft; docs/ACFT.md). Two copies of one model:

* the **reference** is frozen (eval mode, no gradients) and runs the normal encoder on the
  30-s padded features (3000 frames, 1500 positions);
* the **student** is trained and runs :func:`~whisper_tune.models.encode_short` on the first
  ``2 * n_ctx`` frames, exactly what whisper.cpp computes with ``audio_ctx = n_ctx``.

Both decoders are teacher-forced on the same tokens: the start-of-transcript prompt (with
language and task tokens for multilingual models), the transcript, end-of-text. The loss is
the mean squared error over **all** decoder hidden states, i.e. every tensor of
``output_hidden_states``: the embedding output, the input of every later layer and the final
layer-normed output (``decoder_layers + 1`` tensors), as FUTO's notebook concatenates them.
The embedding term is 0 at the start and only grows if training moves the token embedding,
which is tied to the output projection, so it acts as a small anchor. No cross-entropy and
no logits loss: the transcript is a probe, not a label.

The reference never changes and does not depend on the context drawn, so with
``cache_reference`` its hidden states are computed once per clip and reused every epoch
(measured in docs/ACFT.md); the full 1500-position encoder is the most expensive part of a
step.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from whisper_tune.errors import ConfigError, TrainingError
from whisper_tune.models.attention import training_attention
from whisper_tune.models.short_encoder import encode_short
from whisper_tune.transcribe.hf import SpecialTokens
from whisper_tune.whisper_constants import FULL_AUDIO_CTX, language_code

log = logging.getLogger(__name__)


@dataclass
class AcftBatch:
    """Clips that share one encoder context.

    ``features``: float32 ``[batch, n_mels, 3000]``; ``tokens``: ``[batch, T]`` right-padded
    with end-of-text; ``mask``: ``[batch, T]`` True where a token is real; ``ids`` name the
    clips (the reference cache's keys); ``n_ctx``: the student's encoder context.
    """

    features: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    ids: list[str]
    n_ctx: int
    lengths: list[int]  # real tokens per clip (= mask row sums), kept on the host: no device sync

    @property
    def size(self) -> int:
        """Clips in the batch (the training loop counts samples with it)."""
        return len(self.ids)

    @property
    def units(self) -> int:
        """Real token positions in the batch (the loss's units)."""
        return sum(self.lengths)

    def to(self, device: torch.device) -> AcftBatch:
        return AcftBatch(self.features.to(device), self.tokens.to(device), self.mask.to(device), self.ids, self.n_ctx,
                         self.lengths)


class ProbeTokenizer:
    """Transcript -> the token ids both decoders are teacher-forced on.

    A multilingual model's language token is the clip's own (the manifest's ``language``),
    else ``language``; one of them must be set, as FUTO fixes the language: ACFT must not
    depend on language detection.
    """

    def __init__(self, tokenizer: Any, special: SpecialTokens, language: str | None, task: str,
                 max_length: int, lowercase: bool = False) -> None:
        self.special = special
        self.language = language
        self.task = task
        self.eot = special.eot
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.lowercase = lowercase
        self._prompts: dict[str | None, list[int]] = {}

    def prompt(self, clip_language: str | None = None) -> list[int]:
        """The start of the probe for a clip in ``clip_language`` (default: the configured one)."""
        language = clip_language or self.language
        if language not in self._prompts:
            if self.special.multilingual and not language:
                raise ConfigError(
                    "this model is multilingual: set language (e.g. language=en) or fill the manifest's "
                    "language column, so the language and task tokens are fixed, as FUTO does; ACFT must not "
                    "depend on language detection"
                )
            language_id = self.special.language_token(language_code(language)) if (
                self.special.multilingual and language) else None
            self._prompts[language] = self.special.prompt(language_id, self.task)
        return self._prompts[language]

    def __call__(self, text: str, language: str | None = None) -> list[int]:
        text = text.strip().lower() if self.lowercase else text.strip()
        # Whisper's text tokens start with a space, as the decoder produces them.
        body = self.tokenizer.encode(" " + text, add_special_tokens=False)
        tokens = [*self.prompt(language), *body, self.eot]
        if len(tokens) > self.max_length:
            log.debug("transcript %r truncated to %d tokens", text[:40], self.max_length)
            tokens = tokens[: self.max_length]
        return tokens


def collate(items: Sequence[dict[str, Any]], n_ctx: int, pad_id: int) -> AcftBatch:
    """An :class:`AcftBatch` from items with ``input_features``, ``tokens`` and ``id``."""
    if not items:
        raise TrainingError("an ACFT batch is empty (a bug in batching)")
    longest = max(len(item["tokens"]) for item in items)
    tokens = torch.full((len(items), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), longest), dtype=torch.bool)
    for row, item in enumerate(items):
        tokens[row, : len(item["tokens"])] = torch.tensor(item["tokens"], dtype=torch.long)
        mask[row, : len(item["tokens"])] = True
    features = torch.from_numpy(np.stack([item["input_features"] for item in items]).astype(np.float32, copy=False))
    return AcftBatch(features, tokens, mask, [str(item["id"]) for item in items], int(n_ctx),
                     [len(item["tokens"]) for item in items])


def decoder_states(model: nn.Module, tokens: torch.Tensor, encoder_states: torch.Tensor) -> torch.Tensor:
    """All decoder hidden states stacked: ``[batch, decoder_layers + 1, T, d_model]``."""
    out = decoder_of(model)(input_ids=tokens, encoder_hidden_states=encoder_states,
                             output_hidden_states=True, use_cache=False)
    return torch.stack(out.hidden_states, dim=1)


def masked_mse(student: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the real (unpadded) token positions of ``[B, L, T, D]`` states."""
    weights = mask[:, None, :, None].to(student.dtype)
    squared = (student.float() - reference.float()) ** 2 * weights
    count = weights.sum() * student.shape[1] * student.shape[3]
    return squared.sum() / count.clamp(min=1)


class AcftDistillationLoss:
    """Loss of a student on an :class:`AcftBatch` against a frozen reference.

    ``reference`` must be a separate copy of the student's starting weights; it is put in
    eval mode with gradients off. With ``cache_reference`` the reference states are kept per
    clip id (on the CPU) and reused; the tokens of a clip must then not change between
    epochs, which holds because they come from its transcript alone.
    """

    def __init__(self, reference: nn.Module, cache_reference: bool = True) -> None:
        self.reference = reference.eval()
        for param in self.reference.parameters():
            param.requires_grad_(False)
        self.cache_reference = cache_reference
        self.cache: dict[str, torch.Tensor] = {}
        self.reference_forwards = 0  # clips the reference encoder actually ran on

    @torch.no_grad()
    def reference_states(self, batch: AcftBatch) -> torch.Tensor:
        """``[B, L, T, D]`` reference hidden states on the full 1500-position encoder."""
        device = batch.tokens.device
        missing = [i for i, clip in enumerate(batch.ids) if not self.cache_reference or clip not in self.cache]
        fresh: dict[int, torch.Tensor] = {}
        if missing:
            ref_param = next(self.reference.parameters())
            features = batch.features[missing].to(ref_param.device, ref_param.dtype)
            reference: Any = self.reference  # a Whisper model: get_encoder is reached by name
            encoded = reference.get_encoder()(features).last_hidden_state
            states = decoder_states(self.reference, batch.tokens[missing].to(ref_param.device), encoded)
            self.reference_forwards += len(missing)
            for row, index in enumerate(missing):
                length = batch.lengths[index]
                fresh[index] = states[row, :, :length].float()
                if self.cache_reference:
                    self.cache[batch.ids[index]] = fresh[index].to("cpu").clone()
        rows = [fresh[i] if i in fresh else self.cache[clip] for i, clip in enumerate(batch.ids)]
        return _pad_states(rows, batch.tokens.shape[1]).to(device)

    def student_states(self, model: Any, batch: AcftBatch) -> torch.Tensor:
        # model: a Whisper model or a PEFT wrapper of one (Any: its submodules are reached by name)
        param = next(p for p in model.parameters())
        features = batch.features.to(param.device)
        with training_attention(model, param.device, batch.n_ctx):
            if batch.n_ctx >= FULL_AUDIO_CTX:
                encoded = model.get_encoder()(features.to(param.dtype)).last_hidden_state
            else:
                encoded = encode_short(model, features, batch.n_ctx)
            return decoder_states(model, batch.tokens.to(param.device), encoded)

    def loss(self, model: nn.Module, batch: AcftBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """(MSE loss to back-propagate, metrics) for one batch."""
        reference = self.reference_states(batch)
        student = self.student_states(model, batch)
        loss = masked_mse(student, reference.to(student.device), batch.mask.to(student.device))
        return loss, {"n_ctx": float(batch.n_ctx), "tokens": float(batch.units)}


def _pad_states(rows: list[torch.Tensor], length: int) -> torch.Tensor:
    layers, _, width = rows[0].shape
    out = rows[0].new_zeros((len(rows), layers, length, width))
    for index, row in enumerate(rows):
        out[index, :, : row.shape[1]] = row
    return out


def decoder_of(model: nn.Module) -> Any:
    """The Whisper decoder of ``model`` (a Whisper model or a PEFT wrapper of one)."""
    # Any: the decoder's submodules are reached by name, which torch types as Tensor | Module.
    candidates: tuple[Any, ...] = (model, getattr(model, "base_model", None))
    for candidate in candidates:
        if candidate is not None and hasattr(candidate, "get_decoder"):
            return candidate.get_decoder()
    raise TypeError(f"{type(model).__name__} has no Whisper decoder")
