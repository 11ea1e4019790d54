"""A local train/ACFT config becomes a cloud job: what to upload, and the config the job runs.

Nothing about the run changes: the job gets the same config with its paths pointing into the
Volume (:mod:`whisper_tune.cloud.layout`):

* a local manifest (or a saved dataset, made a manifest first by the same code as a local
  run): each clip is uploaded as ``data/audio/<sha256>.<ext>`` and the manifest, rewritten to
  point there, as ``data/manifests/<sha256>.csv``. Names are contents, so a clip already on
  the Volume is never uploaded again;
* ``hf:OWNER/NAME[@SPLIT]``: nothing to upload; the job reads it from the Hub;
* a local model folder: uploaded as ``models/<sha256 of its files>/``; ``embedded:tiny.en``
  (in the image) and Hub ids (downloaded by the job into the Volume's cache) are kept;
* ``output_dir``: ``runs/<run>``, where ``<run>`` is derived from the config and the data,
  so the same command run again resumes (or, when finished, only downloads) that run.

The job always resumes (``resume=auto``) and checkpoints at least every
:data:`~whisper_tune.cloud.layout.CLOUD_SAVE_EVERY` steps, so a retry never starts from zero.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisper_tune.cloud.layout import (
    AUDIO_DIR,
    CLOUD_SAVE_EVERY,
    MANIFEST_DIR,
    MODEL_DIR,
    run_folder,
)
from whisper_tune.config import to_dict
from whisper_tune.data.manifest import read_manifest, write_manifest
from whisper_tune.data.training_data import resolve_manifest
from whisper_tune.errors import ConfigError
from whisper_tune.fileio import atomic_write_text

#: The data keys of each kind of run.
MANIFEST_KEYS: dict[str, tuple[str, ...]] = {
    "train": ("train_manifest", "validation_manifest"),
    "acft": ("train_manifest", "eval_manifest"),
}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """One local file and the Volume path (relative to the mount) it goes to."""

    local: Path
    remote: str
    size: int


@dataclass
class StagedJob:
    """Everything a cloud run needs: the job ``spec`` sent to the function, and the uploads."""

    kind: str
    run: str
    spec: dict[str, Any]
    local_output: Path
    uploads: list[Upload] = field(default_factory=list)
    #: key -> how its value reaches the job (for the plan).
    inputs: dict[str, str] = field(default_factory=dict)

    @property
    def upload_bytes(self) -> int:
        return sum(u.size for u in self.uploads)


def stage_job(kind: str, config: Any, staging_dir: Path) -> StagedJob:
    """Stage ``config`` (a TrainConfig or AcftConfig) for the Volume; files written under ``staging_dir``."""
    if kind not in MANIFEST_KEYS:
        raise ConfigError(f"cloud runs are for train and acft, not {kind!r}")
    if config.resume not in ("no", "auto"):
        raise ConfigError(f"resume={config.resume}: a cloud run resumes its own checkpoints on the Volume; "
                          "use resume=auto (or --resume) or leave it out")
    data = to_dict(config)
    volume_paths: dict[str, str] = {}
    uploads: list[Upload] = []
    inputs: dict[str, str] = {}
    for key in MANIFEST_KEYS[kind]:
        value = getattr(config, key)
        if value is None:
            continue
        if str(value).startswith("hf:"):
            inputs[key] = f"{value} (read from the Hub by the job)"
            continue
        remote, files, clips = _stage_manifest(Path(value), staging_dir)
        volume_paths[key] = remote
        uploads.extend(files)
        inputs[key] = f"{value}: {clips} clips -> {remote}"
    model_path = Path(config.model).expanduser()
    if config.model and model_path.is_dir():
        remote, files = _stage_model(model_path)
        volume_paths["model"] = remote
        uploads.extend(files)
        inputs["model"] = f"{config.model} -> {remote}"
    else:
        where = "in the image" if config.model.startswith("embedded:") else "from the Hub, cached on the Volume"
        inputs["model"] = f"{config.model} ({where})"
    data.update(resume="auto", progress=False, device="auto", save_every=config.save_every or CLOUD_SAVE_EVERY)
    for key in (*volume_paths, "output_dir"):
        data.pop(key, None)
    run = _run_name(kind, Path(config.output_dir), data, volume_paths)
    volume_paths["output_dir"] = run_folder(run)
    spec = {"kind": kind, "run": run, "config": data, "volume_paths": volume_paths}
    return StagedJob(kind, run, spec, Path(config.output_dir), _unique(uploads), inputs)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _stage_manifest(value: Path, staging_dir: Path) -> tuple[str, list[Upload], int]:
    """Upload plan of one manifest (or saved dataset): its clips by content, then itself."""
    rows = read_manifest(resolve_manifest(value))
    audio_dir = staging_dir / AUDIO_DIR
    uploads, staged = [], []
    for row in rows:
        name = f"{sha256_file(row.audio)}{row.audio.suffix.lower()}"
        uploads.append(Upload(row.audio, f"{AUDIO_DIR}/{name}", row.audio.stat().st_size))
        staged.append(dataclasses.replace(row, audio=audio_dir / name))
    pending = write_manifest(staged, staging_dir / MANIFEST_DIR / "pending.csv")
    text = pending.read_text(encoding="utf-8")
    pending.unlink()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    manifest = staging_dir / MANIFEST_DIR / f"{digest}.csv"
    atomic_write_text(manifest, text)
    remote = f"{MANIFEST_DIR}/{manifest.name}"
    uploads.append(Upload(manifest, remote, manifest.stat().st_size))
    return remote, uploads, len(rows)


def _stage_model(folder: Path) -> tuple[str, list[Upload]]:
    """A local model folder, named by the digest of its files' names and contents."""
    if (folder / "adapter_config.json").is_file():
        raise ConfigError(f"model={folder} is a PEFT adapter; merge it first (whisper-tune merge {folder} "
                          "OUT_DIR) so that the cloud run gets a complete model folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise ConfigError(f"model={folder}: the folder is empty")
    listing = [(p.relative_to(folder).as_posix(), sha256_file(p)) for p in files]
    digest = hashlib.sha256(json.dumps(listing).encode()).hexdigest()
    remote = f"{MODEL_DIR}/{digest}"
    uploads = [Upload(p, f"{remote}/{name}", p.stat().st_size) for p, (name, _) in zip(files, listing, strict=True)]
    return remote, uploads


def _run_name(kind: str, output_dir: Path, data: dict[str, Any], volume_paths: dict[str, str]) -> str:
    """``<kind>-<output folder name>-<digest>``: the same config and data give the same run."""
    identity = json.dumps({"kind": kind, "config": data, "paths": volume_paths}, sort_keys=True, default=str)
    digest = hashlib.sha256(identity.encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", output_dir.name or "run").strip("-")[:40] or "run"
    return f"{kind}-{slug}-{digest}"


def _unique(uploads: list[Upload]) -> list[Upload]:
    """One upload per Volume path (the same clip in two manifests goes up once)."""
    seen: dict[str, Upload] = {}
    for upload in uploads:
        seen.setdefault(upload.remote, upload)
    return list(seen.values())


__all__ = ["MANIFEST_KEYS", "StagedJob", "Upload", "sha256_file", "stage_job"]
