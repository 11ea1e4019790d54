"""Log-mel features for training, and an on-disk cache so audio is decoded only once.

:func:`log_mel` is exactly what ``WhisperFeatureExtractor`` returns for a clip: the full
30 s window (``[n_mels, 3000]``), the audio zero-padded, as whisper.cpp computes it too;
training and ACFT slice the first frames themselves to shorten the encoder.

Cache entries are keyed by the audio file's bytes (BLAKE2b) and by the feature settings (mel
bins, rate, hop, FFT size, window, mel filter bank, dither, the versions of this code, of
transformers and of soxr): change any of them and the old entries are simply not found.

Entry format (this module is its only reader and writer): an ``.npz`` holding ``content``
(float32 ``[n_mels, k]``, the frames up to where the padded tail starts), ``tail`` (the one
float32 value every remaining frame holds: log-mel of silence, clamped to max - 8 by
Whisper's normalisation), ``n_frames`` (3000) and ``n_samples`` (of the 16 kHz audio). The
split point ``k`` is found by comparing values, so the reconstruction is bit-exact by
construction; a 5 s clip takes ~170 KB instead of 960 KB. Entries are written atomically;
one that cannot be read back (truncated, CRC error, wrong shape) is recomputed and replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune.audio import load_audio
from whisper_tune.errors import ConfigError
from whisper_tune.fileio import atomic_open, atomic_write_json
from whisper_tune.whisper_constants import HOP_LENGTH, SAMPLE_RATE

log = logging.getLogger(__name__)

#: Bump when anything here changes the features or the entry format.
FEATURES_VERSION = 1
CACHE_ENV = "WHISPER_TUNE_CACHE"


def cache_base() -> Path:
    """whisper-tune's cache folder: ``$WHISPER_TUNE_CACHE``, else ``$XDG_CACHE_HOME/whisper-tune``,
    else ``~/.cache/whisper-tune`` (models live under ``models/``, features under ``features/``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "whisper-tune"


def content_frames(n_samples: int) -> int:
    """Mel frames that hold audio: ``ceil(n_samples / 160)`` (10 ms per frame at 16 kHz)."""
    return -(-int(n_samples) // HOP_LENGTH)


def log_mel(samples: np.ndarray, feature_extractor: Any) -> np.ndarray:
    """float32 ``[n_mels, 3000]``, identical to ``feature_extractor(samples, sampling_rate=16000,
    return_tensors="np").input_features[0]`` (``samples``: 16 kHz mono float32)."""
    _check_rate(feature_extractor)
    batch = feature_extractor(np.asarray(samples, dtype=np.float32), sampling_rate=SAMPLE_RATE, return_tensors="np")
    return np.ascontiguousarray(batch.input_features[0], dtype=np.float32)


def feature_settings(feature_extractor: Any) -> dict[str, Any]:
    """Everything the features depend on besides the audio bytes (the cache key's second half)."""
    import soxr
    import transformers

    filters = np.ascontiguousarray(np.asarray(feature_extractor.mel_filters, dtype=np.float64))
    return {
        "features_version": FEATURES_VERSION,
        "extractor": type(feature_extractor).__name__,
        "n_mels": int(feature_extractor.feature_size),
        "sampling_rate": int(feature_extractor.sampling_rate),
        "hop_length": int(feature_extractor.hop_length),
        "n_fft": int(feature_extractor.n_fft),
        "n_samples": int(feature_extractor.n_samples),
        "n_frames": int(feature_extractor.nb_max_frames),
        "padding_value": float(feature_extractor.padding_value),
        "dither": float(getattr(feature_extractor, "dither", 0.0)),
        "mel_filters_blake2b": hashlib.blake2b(filters.tobytes(), digest_size=16).hexdigest(),
        "transformers": transformers.__version__,
        "soxr": getattr(soxr, "__version__", "unknown"),
        "resampler": "soxr-HQ",
    }


def settings_key(feature_extractor: Any) -> str:
    text = json.dumps(feature_settings(feature_extractor), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def file_digest(path: Path) -> str:
    """BLAKE2b of a file's bytes (the content half of the cache key)."""
    digest = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- entry format ---------------------------------------------------------------------------


def pack_features(features: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Split ``[n_mels, T]`` into the frames before the constant tail and the tail value."""
    tail = features[0, -1]
    constant = np.all(features == tail, axis=0)
    varying = np.flatnonzero(~constant)
    split = int(varying[-1]) + 1 if varying.size else 0
    return np.ascontiguousarray(features[:, :split]), np.float32(tail)


def unpack_features(content: np.ndarray, tail: np.float32, n_frames: int) -> np.ndarray:
    """The inverse of :func:`pack_features` (bit-exact)."""
    features = np.full((content.shape[0], n_frames), tail, dtype=np.float32)
    features[:, : content.shape[1]] = content
    return features


def write_entry(path: Path, features: np.ndarray, n_samples: int) -> None:
    content, tail = pack_features(features)
    with atomic_open(path, "wb") as handle:
        np.savez(
            handle,
            content=content,
            tail=np.asarray(tail, dtype=np.float32),
            n_frames=np.asarray(features.shape[1], dtype=np.int64),
            n_samples=np.asarray(n_samples, dtype=np.int64),
        )


def read_entry(path: Path, n_mels: int, n_frames: int) -> tuple[np.ndarray, int] | None:
    """(features, n_samples) from an entry, or None when it is missing or unusable."""
    try:
        with np.load(path, allow_pickle=False) as entry:
            content = entry["content"]
            tail = entry["tail"]
            stored_frames = int(entry["n_frames"])
            n_samples = int(entry["n_samples"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        log.warning("feature cache entry %s is unreadable (%s); recomputing it", path, exc)
        return None
    if (
        content.dtype != np.float32
        or content.ndim != 2
        or content.shape[0] != n_mels
        or not 0 <= content.shape[1] <= n_frames
        or stored_frames != n_frames
        or tail.shape != ()
        or n_samples <= 0
    ):
        log.warning("feature cache entry %s has unexpected shapes; recomputing it", path)
        return None
    return unpack_features(content, np.float32(tail), n_frames), n_samples


# --- the cache ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedFeatures:
    """Features of one clip and the length of its 16 kHz audio (for ``content_frames``)."""

    features: np.ndarray
    n_samples: int


class FeatureCache:
    """On-disk cache of :func:`log_mel` results.

    ``root`` is the folder holding the entries; by default ``<cache_base()>/features``
    (``$WHISPER_TUNE_CACHE/features`` when that variable is set). Safe to share between
    processes: entries are written under a temporary name and renamed into place.
    """

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else cache_base() / "features"
        self.hits = 0
        self.misses = 0
        self._digests: dict[tuple[str, int, int], str] = {}
        # id -> (extractor, key): holding the extractor keeps its id from being reused.
        self._settings: dict[int, tuple[Any, str]] = {}

    def get(self, audio_path: str | os.PathLike[str], feature_extractor: Any) -> np.ndarray:
        """float32 ``[n_mels, 3000]`` for the audio file, from the cache or computed and stored."""
        return self.lookup(audio_path, feature_extractor).features

    def lookup(self, audio_path: str | os.PathLike[str], feature_extractor: Any) -> CachedFeatures:
        """Like :meth:`get`, also returning the number of 16 kHz samples of the clip."""
        _check_rate(feature_extractor)
        path = Path(audio_path)
        if float(getattr(feature_extractor, "dither", 0.0)) != 0.0:
            # Dithered features are random on every call: caching one draw would be wrong.
            samples = load_audio(path)
            return CachedFeatures(log_mel(samples, feature_extractor), len(samples))
        entry = self.entry_path(path, feature_extractor)
        n_mels, n_frames = int(feature_extractor.feature_size), int(feature_extractor.nb_max_frames)
        found = read_entry(entry, n_mels, n_frames)
        if found is not None:
            self.hits += 1
            return CachedFeatures(*found)
        self.misses += 1
        samples = load_audio(path)
        features = log_mel(samples, feature_extractor)
        self._write_settings(entry.parent.parent, feature_extractor)
        write_entry(entry, features, len(samples))
        return CachedFeatures(features, len(samples))

    def entry_path(self, audio_path: str | os.PathLike[str], feature_extractor: Any) -> Path:
        """Where the entry for this file and these settings lives (it may not exist yet)."""
        digest = self._digest(Path(audio_path))
        return self.root / self._settings_key(feature_extractor) / digest[:2] / f"{digest}.npz"

    def _digest(self, path: Path) -> str:
        # Re-hash only when the file changed (size or mtime), so an epoch costs one stat per clip.
        try:
            stat = path.stat()
        except OSError:
            load_audio(path)  # raises the AudioError naming the file
            raise
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if key not in self._digests:
            self._digests[key] = file_digest(path)
        return self._digests[key]

    def _settings_key(self, feature_extractor: Any) -> str:
        marker = id(feature_extractor)
        if marker not in self._settings:
            self._settings[marker] = (feature_extractor, settings_key(feature_extractor))
        return self._settings[marker][1]

    def _write_settings(self, folder: Path, feature_extractor: Any) -> None:
        """A human-readable ``settings.json`` beside the entries of one settings key."""
        target = folder / "settings.json"
        if not target.exists():
            atomic_write_json(target, feature_settings(feature_extractor))


def _check_rate(feature_extractor: Any) -> None:
    rate = int(getattr(feature_extractor, "sampling_rate", SAMPLE_RATE))
    if rate != SAMPLE_RATE:
        raise ConfigError(
            f"feature extractor sampling_rate={rate}: Whisper models expect {SAMPLE_RATE} Hz; "
            "check the model's preprocessor_config.json"
        )
