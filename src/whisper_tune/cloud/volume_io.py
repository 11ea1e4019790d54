"""Uploading what a job needs and downloading what it wrote, through a Volume.

The functions take any object with the part of ``modal.Volume``'s interface they use
(``listdir``, ``batch_upload().put_file``, ``read_file``), so the same code runs against a
Modal Volume and against :class:`DirectoryVolume`, a folder standing in for one (tests,
``bench/cloud_local.py`` and runs of the function body through ``.local()``).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from whisper_tune.cloud.layout import KEPT_REMOTE, run_folder
from whisper_tune.cloud.staging import Upload
from whisper_tune.fileio import atomic_open

log = logging.getLogger(__name__)


def missing_uploads(volume: Any, uploads: list[Upload]) -> list[Upload]:
    """The uploads whose Volume path does not exist yet (one listing per folder)."""
    folders = sorted({str(PurePosixPath(u.remote).parent) for u in uploads})
    present: set[str] = set()
    for folder in folders:
        present.update(_relative(entry.path) for entry in _listdir(volume, folder))
    return [u for u in uploads if u.remote not in present]


def upload(volume: Any, uploads: list[Upload]) -> None:
    """Put every file of ``uploads`` on the Volume in one batch."""
    if not uploads:
        return
    with volume.batch_upload() as batch:
        for item in uploads:
            batch.put_file(str(item.local), "/" + item.remote)


def download_run(volume: Any, run: str, target: Path) -> list[Path]:
    """Copy the run's folder (without its checkpoints) into ``target``; returns the files written."""
    prefix = run_folder(run)
    written = []
    for entry in _listdir(volume, prefix, recursive=True):
        if not _is_file(entry):
            continue
        relative = PurePosixPath(_relative(entry.path)).relative_to(prefix)
        if relative.parts and relative.parts[0] in KEPT_REMOTE:
            continue
        destination = target.joinpath(*relative.parts)
        with atomic_open(destination, "wb") as handle:
            for chunk in volume.read_file(_relative(entry.path)):
                handle.write(chunk)
        written.append(destination)
    log.info("downloaded %d files of %s into %s", len(written), prefix, target)
    return written


def _listdir(volume: Any, path: str, recursive: bool = False) -> list[Any]:
    try:
        return list(volume.listdir(path, recursive=recursive))
    except FileNotFoundError:
        return []
    except Exception as exc:  # modal.exception.NotFoundError for a folder not there yet
        if type(exc).__name__ == "NotFoundError":
            return []
        raise


def _relative(path: str) -> str:
    return str(path).lstrip("/")


def _is_file(entry: Any) -> bool:
    kind = getattr(entry, "type", None)
    return getattr(kind, "name", str(kind)).upper().endswith("FILE")


@dataclass(frozen=True)
class DirectoryEntry:
    path: str
    type: str
    size: int


class DirectoryVolume:
    """A local folder with the Volume methods that :mod:`volume_io` uses."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def listdir(self, path: str, recursive: bool = False) -> list[DirectoryEntry]:
        folder = self.root / _relative(path)
        if not folder.is_dir():
            raise FileNotFoundError(path)
        found = folder.rglob("*") if recursive else folder.iterdir()
        return [DirectoryEntry(p.relative_to(self.root).as_posix(), "FILE" if p.is_file() else "DIRECTORY",
                               p.stat().st_size) for p in sorted(found)]

    @contextlib.contextmanager
    def batch_upload(self) -> Iterator[DirectoryVolume]:
        yield self

    def put_file(self, local: str, remote: str) -> None:
        destination = self.root / _relative(remote)
        destination.parent.mkdir(parents=True, exist_ok=True)
        with open(local, "rb") as source, atomic_open(destination, "wb") as handle:
            shutil.copyfileobj(source, handle)

    def read_file(self, path: str) -> Iterator[bytes]:
        with open(self.root / _relative(path), "rb") as handle:
            yield from iter(lambda: handle.read(1 << 20), b"")
