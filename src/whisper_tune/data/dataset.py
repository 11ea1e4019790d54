"""What training reads: manifest rows -> log-mel features (cached) + text, and batches of
similar lengths.

No torch here: items are numpy arrays and strings; the trainer's collator makes tensors.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from whisper_tune.audio import load_audio
from whisper_tune.data.features import FeatureCache, content_frames, log_mel
from whisper_tune.data.manifest import ManifestRow
from whisper_tune.errors import ConfigError
from whisper_tune.whisper_constants import SAMPLE_RATE

#: Megabatches hold this many batches; lengths are sorted within one (as transformers'
#: LengthGroupedSampler does), which keeps batches tight but still varied between epochs.
MEGABATCH_BATCHES = 50


class SpeechDataset:
    """Indexable clips: ``dataset[i]`` is a dict with

    * ``input_features``: float32 ``[n_mels, 3000]`` (the model's feature extractor),
    * ``n_frames``: mel frames holding audio (``content_frames``, at most 3000),
    * ``text``: the transcript, ``id``: the row id.

    ``processor`` is a ``WhisperProcessor`` (its ``feature_extractor`` is used) or a
    ``WhisperFeatureExtractor``. With a ``cache`` the audio is decoded once per machine.
    """

    def __init__(self, rows: Sequence[ManifestRow], processor: Any, cache: FeatureCache | None = None) -> None:
        self.rows = list(rows)
        self.feature_extractor = getattr(processor, "feature_extractor", processor)
        if not hasattr(self.feature_extractor, "nb_max_frames"):
            raise ConfigError(
                f"{type(processor).__name__}: expected a WhisperProcessor or WhisperFeatureExtractor "
                "(load one with whisper_tune.models.load_processor)"
            )
        self.cache = cache
        self.max_frames = int(self.feature_extractor.nb_max_frames)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        row = self.rows[index]
        if self.cache is not None:
            found = self.cache.lookup(row.audio, self.feature_extractor)
            features, n_samples = found.features, found.n_samples
        else:
            samples = load_audio(row.audio)
            features, n_samples = log_mel(samples, self.feature_extractor), len(samples)
        return {
            "input_features": features,
            "n_frames": min(content_frames(n_samples), self.max_frames),
            "text": row.text,
            "id": row.id,
        }

    def lengths(self) -> list[int]:
        """Content frames per row from the manifest's durations (no decoding), for batching."""
        return [min(content_frames(round(row.duration * SAMPLE_RATE)), self.max_frames) for row in self.rows]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices into ``lengths`` in batches of similar length, every index exactly once.

    Deterministic in (lengths, batch_size, seed, epoch): indices are shuffled, cut into
    megabatches of ``50 * batch_size``, sorted longest first inside each, cut into batches,
    and the batch order is shuffled (so the first batch is not always the longest; the last
    batch may be smaller).
    """
    if batch_size < 1:
        raise ConfigError(f"batch_size={batch_size}: expected 1 or more")
    # Python's Random seeded with an int is the same on every platform and version.
    rng = random.Random(int(seed) * 1_000_003 + int(epoch))
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = MEGABATCH_BATCHES * batch_size
    batches: list[list[int]] = []
    for start in range(0, len(order), size):
        mega = sorted(order[start : start + size], key=lambda i: (-int(lengths[i]), i))
        batches.extend(mega[i : i + batch_size] for i in range(0, len(mega), batch_size))
    rng.shuffle(batches)
    return batches


def stack_features(items: Sequence[dict[str, Any]]) -> np.ndarray:
    """``[batch, n_mels, 3000]`` float32 from dataset items (a helper for collators)."""
    return np.stack([item["input_features"] for item in items]).astype(np.float32, copy=False)
