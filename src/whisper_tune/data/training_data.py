"""Training data given as a manifest, a saved Hugging Face dataset or a Hub dataset id.

``train`` and ``acft`` read manifests. Their ``train_manifest`` (and validation/eval) keys
also take a dataset, which :func:`resolve_manifest` turns into a manifest once:

* ``hf:OWNER/NAME`` or ``hf:OWNER/NAME@SPLIT`` - a Hub dataset (``datasets.load_dataset``);
* a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``, optionally
  ``FOLDER@SPLIT``.

Both go through the same ``manifest build`` code (:func:`whisper_tune.data.build.build_manifest`):
an ``audio`` column and a ``text`` or ``sentence`` column, audio decoded to wav files. The
result is kept under whisper-tune's cache folder (``datasets/``), keyed by the source, the
split and, for a saved folder, its fingerprints, so a rerun (or a resumed cloud run) does
not decode the audio again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from whisper_tune.data.build import build_manifest
from whisper_tune.data.features import cache_base
from whisper_tune.data.sources import SourceOptions
from whisper_tune.errors import DataError

log = logging.getLogger(__name__)

HUB_PREFIX = "hf:"
SPLIT_SEPARATOR = "@"
#: Bump when the extracted layout changes, so that stale extractions are rebuilt.
EXTRACT_FORMAT = 1
_SAVED_MARKERS = ("state.json", "dataset_dict.json")


def split_spec(spec: str) -> tuple[str, str | None]:
    """``hf:me/data@test`` -> (``hf:me/data``, ``test``); no ``@`` -> (spec, None)."""
    source, separator, split = spec.rpartition(SPLIT_SEPARATOR)
    if not separator or "/" in split or not source:
        return spec, None
    if not split:
        raise DataError(f"{spec}: empty split after '@'; write it like hf:OWNER/NAME@train")
    return source, split


def is_dataset_spec(spec: str | os.PathLike[str]) -> bool:
    """True for a Hub id (``hf:...``) or a saved dataset folder (with or without ``@SPLIT``)."""
    text = str(spec)
    if text.startswith(HUB_PREFIX):
        return True
    source, _ = split_spec(text)
    return is_saved_dataset(Path(source))


def is_saved_dataset(path: Path) -> bool:
    return path.is_dir() and any((path / marker).is_file() for marker in _SAVED_MARKERS)


def resolve_manifest(spec: str | os.PathLike[str]) -> Path:
    """The manifest to read for ``spec``: itself, or the manifest built from a dataset."""
    if not is_dataset_spec(spec):
        return Path(spec)
    source, split = split_spec(str(spec))
    return extract_dataset(source, split)


def extract_dataset(source: str, split: str | None) -> Path:
    """Build (once) and return the manifest of a Hub or saved dataset in the cache folder."""
    from filelock import FileLock

    folder = cache_base() / "datasets" / _cache_key(source, split)
    manifest = folder / "manifest.csv"
    folder.mkdir(parents=True, exist_ok=True)
    # Several ranks (accelerate launch) may ask at once: one extracts, the others wait.
    with FileLock(str(folder) + ".lock"):
        if manifest.is_file():
            log.info("%s%s: using the manifest built earlier, %s", source, f"@{split}" if split else "", manifest)
            return manifest
        log.info("reading %s%s into %s (once)", source, f"@{split}" if split else "", folder)
        build_manifest([source], manifest, SourceOptions(hf_split=split))
    return manifest


def _cache_key(source: str, split: str | None) -> str:
    digest = hashlib.sha256(json.dumps([EXTRACT_FORMAT, source, split, _fingerprint(source)]).encode())
    readable = "".join(c if c.isalnum() or c in "-_." else "_" for c in source.removeprefix(HUB_PREFIX))
    return f"{readable[-48:]}-{split or 'all'}-{digest.hexdigest()[:12]}"


def _fingerprint(source: str) -> str:
    """A saved folder's JSON metadata (it holds datasets' own fingerprints); '' for a Hub id."""
    if source.startswith(HUB_PREFIX):
        return ""
    folder = Path(source)
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for file in sorted(folder.rglob("*.json")):
        digest.update(file.relative_to(folder).as_posix().encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()
