"""Training batches: manifest rows -> padded tensors, grouped by length, with the encoder
context each batch is trained on.

Features come from :class:`whisper_tune.data.SpeechDataset` (log-mel, optionally cached on
disk) and batches from :func:`whisper_tune.data.dataset.length_grouped_batches`, so clips
of similar length share a batch and a short encoder context is short for all of them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from whisper_tune.data.dataset import SpeechDataset, length_grouped_batches
from whisper_tune.models.short_encoder import clamp_audio_ctx
from whisper_tune.training.labels import IGNORE_INDEX, Example
from whisper_tune.whisper_constants import FULL_AUDIO_CTX


def clip_context(n_frames: int, offset: int) -> int:
    """Encoder positions for a clip of ``n_frames`` mel frames: ceil(frames / 2) + offset.

    Equal to FUTO's ``ceil(samples / 320) + offset`` (a mel frame is 160 samples).
    """
    return clamp_audio_ctx(math.ceil(n_frames / 2) + offset)


def batch_context(n_frames: Sequence[int], mode: str, offset: int, full_fraction: float, seed: int,
                  step: int) -> int:
    """The encoder context of one batch: full, or enough for its longest clip.

    In clip mode a share ``full_fraction`` of the steps trains on the full context; the draw
    depends only on (seed, step), so a resumed run makes the same choices.
    """
    if mode == "full":
        return FULL_AUDIO_CTX
    if full_fraction > 0 and random.Random(seed * 7_919 + step).random() < full_fraction:
        return FULL_AUDIO_CTX
    return clip_context(max(n_frames), offset)


@dataclass(frozen=True)
class BatchSettings:
    batch_size: int
    encoder_context: str  # "full" | "clip"
    clip_ctx_offset: int
    full_context_fraction: float
    seed: int


class TrainingData:
    """A manifest's clips with their examples: plans epochs and collates batches."""

    def __init__(self, dataset: SpeechDataset, examples: Sequence[Example], settings: BatchSettings) -> None:
        if len(dataset) != len(examples):
            raise ValueError("one example per clip expected")
        self.dataset = dataset
        self.examples = list(examples)
        self.settings = settings
        self.lengths = dataset.lengths()

    def __len__(self) -> int:
        return len(self.dataset)

    def batch_plan(self, epoch: int) -> list[list[int]]:
        return length_grouped_batches(self.lengths, self.settings.batch_size, self.settings.seed, epoch)

    def collate(self, indices: Sequence[int], step: int, device: torch.device) -> dict[str, Any]:
        items = [self.dataset[i] for i in indices]
        n_frames = [int(item["n_frames"]) for item in items]
        s = self.settings
        n_ctx = batch_context(n_frames, s.encoder_context, s.clip_ctx_offset, s.full_context_fraction, s.seed, step)
        return collate_examples(items, [self.examples[i] for i in indices], n_ctx, device)


def collate_examples(items: Sequence[dict[str, Any]], examples: Sequence[Example], n_ctx: int,
                     device: torch.device) -> dict[str, Any]:
    """Stack features cut to the first ``2 * n_ctx`` frames and pad tokens to the longest.

    Decoder inputs are padded with end-of-text after the sequence (never attended by a
    label: every padded position's label is -100). ``label_positions``/``label_targets`` list
    the real labels only, so the loss computes no logits for padding.
    """
    frames = 2 * n_ctx
    features = np.stack([item["input_features"][:, :frames] for item in items]).astype(np.float32, copy=False)
    width = max(len(e.labels) for e in examples)
    pad = examples[0].labels[-1]  # end-of-text
    inputs = torch.full((len(examples), width), pad, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    positions: list[int] = []
    for row, example in enumerate(examples):
        inputs[row, : len(example.decoder_input_ids)] = torch.tensor(example.decoder_input_ids)
        labels[row, : len(example.labels)] = torch.tensor(example.labels)
        positions.extend(row * width + col for col, label in enumerate(example.labels) if label != IGNORE_INDEX)
    index = torch.tensor(positions, dtype=torch.long)
    return {
        "size": len(examples),
        "label_tokens": len(positions),
        # The flat positions of real labels and their targets, found on the host: the loss
        # projects only these rows onto the vocabulary (padding costs no logits) without a
        # device-side mask lookup.
        "label_positions": index.to(device),
        "label_targets": labels.reshape(-1)[index].to(device),
        "input_features": torch.from_numpy(np.ascontiguousarray(features)).to(device),
        "n_ctx": n_ctx,
        "decoder_input_ids": inputs.to(device),
        "labels": labels.to(device),
        "ids": [item["id"] for item in items],
    }
