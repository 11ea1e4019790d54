"""export/mel: OpenAI's mel filters (librosa's Slaney bank) bit for bit, without librosa."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from whisper_tune.export.mel import mel_filters

REFERENCE = json.loads((Path(__file__).parents[1] / "formats" / "data" / "ggml_reference.json").read_text())


@pytest.mark.parametrize("n_mels", [80, 128])
def test_equals_openai_assets_bit_for_bit(n_mels):
    filters = mel_filters(n_mels)
    assert filters.shape == (n_mels, 201) and filters.dtype == np.float32
    assert hashlib.sha256(filters.astype("<f4").tobytes()).hexdigest() == REFERENCE["mel_sha256"][str(n_mels)]


@pytest.mark.parametrize("n_mels", [80, 128])
def test_matches_transformers_feature_extractor(n_mels):
    from transformers import WhisperFeatureExtractor

    reference = WhisperFeatureExtractor(feature_size=n_mels).mel_filters.T
    assert np.abs(mel_filters(n_mels) - reference).max() < 1e-8
