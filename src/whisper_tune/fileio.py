"""Atomic file output: nothing appears under the final name until it is complete.

Files are written into an unnamed temporary file in the target's folder (Linux's
``O_TMPFILE``), given a name only once written and synced, and renamed over the target. A
process killed while writing leaves nothing behind: the kernel frees an unnamed file with its
last descriptor. Where ``O_TMPFILE`` is not available (another OS, or a file system without
it), and for directories, the temporary has a hidden name that records the writer's process
id (``.NAME.PID.RANDOM.tmp``); the next write of the same output removes those whose process
is gone.

Running out of space, a file-size limit, a missing permission and other OS errors while
writing an output become :class:`~whisper_tune.errors.OutputError` (a user error naming the
path, what went wrong and how to fix it), never a bug report.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from whisper_tune.errors import OutputError

#: Errors that mean the output does not fit: always about the file being written.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


@contextlib.contextmanager
def atomic_open(
    path: str | os.PathLike[str], mode: str = "wb", *, durable: bool = True, **kwargs: Any
) -> Iterator[IO[Any]]:
    """Open an unnamed (or hidden) temporary beside ``path`` for writing; put it in place on success.

    On any exception nothing is left behind and ``path`` is untouched. OS errors of the write
    raise :class:`OutputError`.

    ``durable`` (the default) fsyncs the file before it gets its name, so once this returns
    the complete file is on disk. ``durable=False`` skips that fsync and leaves the data in
    the page cache for the kernel to write when it likes (faster for multi-gigabyte files).
    The temporary-then-rename protocol is the same either way, so an exception, an
    interrupted or a killed process still leaves no half-written file under ``path``; only
    a power loss or an operating-system crash shortly after the write (before the kernel
    has written the data back) could leave an incomplete or empty file under ``path``.
    """
    if not any(flag in mode for flag in "wax"):
        raise ValueError(f"atomic_open is for writing, got mode {mode!r}")
    target = Path(path)
    _make_parent(target)
    remove_stale_temporaries(target)
    with _os_errors(target, body_errors=_NO_ROOM) as progress:
        fd, named = _open_temporary(target)
        try:
            with os.fdopen(fd, mode.replace("x", "w").replace("a", "w"), **kwargs) as handle:
                try:
                    yield handle
                    handle.flush()
                    if durable:
                        os.fsync(handle.fileno())
                except OSError:
                    progress.note(handle.fileno())  # before the descriptor is closed
                    raise
                if named is None:
                    named = _link_unnamed(handle.fileno(), target)
            os.replace(named, target)
            named = None
        except BaseException:
            if named is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(named)
            raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)


def atomic_write_json(path: str | os.PathLike[str], data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_report(folder: str | os.PathLike[str], stem: str, data: Any, markdown: str) -> tuple[Path, Path]:
    """A report as ``STEM.json`` (``data``) and ``STEM.md`` (``markdown``) in ``folder``, each
    written atomically; returns both paths."""
    json_path, md_path = Path(folder) / f"{stem}.json", Path(folder) / f"{stem}.md"
    atomic_write_json(json_path, data)
    atomic_write_text(md_path, markdown)
    return json_path, md_path


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory under a hidden temporary sibling name, then move it into place.

    An existing directory at ``path`` is replaced only once the new one is complete. A staging
    folder left by a killed process is removed by the next build of the same directory.
    """
    target = Path(path)
    _make_parent(target)
    remove_stale_temporaries(target)
    with _os_errors(target, body_errors=_NO_ROOM):
        staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent))
        try:
            os.chmod(staging, 0o777 & ~_current_umask())
            yield staging
            if target.exists():
                retired = Path(tempfile.mkdtemp(prefix=_temp_prefix(target), suffix=".old", dir=target.parent))
                os.replace(target, retired)
                os.replace(staging, target)
                shutil.rmtree(retired, ignore_errors=True)
            else:
                os.replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove temporaries of ``path`` (``.NAME.PID.*.tmp``/``.old``) whose writer has exited.

    Only this output's temporaries are considered, and only those of processes that no
    longer run, so a concurrent writer of the same output keeps its own. Returns the removed.
    """
    target = Path(path)
    pattern = re.compile(re.escape(f".{target.name}.") + r"(\d+)\.[^/]*\.(tmp|old)")
    removed: list[Path] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(target.parent):
            match = pattern.fullmatch(entry.name)
            if match is None or _process_runs(int(match.group(1))):
                continue
            stale = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(stale, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    stale.unlink()
            removed.append(stale)
    return removed


def read_json_object(path: str | os.PathLike[str], error: type[Exception], what: str = "JSON file") -> dict[str, Any]:
    """Read a JSON object, raising ``error`` (a typed whisper-tune error) that names the file.

    ``what`` says what the file should be ("PEFT adapter config", "model config", ...).
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise error(f"{file}: not a readable {what} ({exc})") from exc
    if not isinstance(data, dict):
        raise error(f"{file}: a {what} must be a JSON object, not {type(data).__name__}")
    return data


def describe_os_error(path: Path, exc: OSError, written: int | None = None) -> str:
    """One line for a user: the path, what the OS said, and what to do about it."""
    code = exc.errno
    if code in (errno.ENOSPC, errno.EDQUOT):
        what = "no space left on the device" if code == errno.ENOSPC else "the disk quota is exhausted"
        needed = f"at least {describe_size(written)} needed (written before it ran out), " if written else ""
        free = _free_space(path.parent)
        free_text = f"{describe_size(free)} free there" if free is not None else "free space unknown"
        return (f"{path}: cannot write: {what} ({needed}{free_text}); free some space or write the output "
                "to another disk")
    if code == errno.EFBIG:
        size = f" after {describe_size(written)}" if written else ""
        return (f"{path}: cannot write: the file is larger than this system allows{size} (a file-size limit, "
                "see `ulimit -f`, or the file system's maximum); raise the limit or write to another file system")
    if code in (errno.EACCES, errno.EPERM):
        return f"{path}: cannot write: permission denied; choose a folder you can write to or fix its permissions"
    if code == errno.EROFS:
        return f"{path}: cannot write: the file system is read-only; write the output somewhere else"
    reason = exc.strerror or str(exc)
    culprit = f" ({exc.filename})" if exc.filename and str(exc.filename) != str(path) else ""
    return f"{path}: cannot write: {reason}{culprit}; check the path and the disk, or write somewhere else"


# --- internals ---------------------------------------------------------------------------


class _Progress:
    """How much of the output was written when an error struck (for the message)."""

    written: int | None = None

    def note(self, fd: int) -> None:
        with contextlib.suppress(OSError):
            self.written = os.lseek(fd, 0, os.SEEK_END)


@contextlib.contextmanager
def _os_errors(target: Path, body_errors: frozenset[int]) -> Iterator[_Progress]:
    """OSError -> OutputError for this module's own file operations, and for ``body_errors``
    raised while the caller writes (its other OSErrors may concern its inputs: left alone)."""
    progress = _Progress()
    try:
        yield progress
    except OSError as exc:
        if exc.errno in body_errors or _raised_here(exc):
            raise OutputError(describe_os_error(target, exc, progress.written)) from exc
        raise


def _raised_here(exc: OSError) -> bool:
    """Whether ``exc`` comes from this module's own calls (open, fsync, link, rename, mkdir)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename == __file__


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(describe_os_error(target.parent, exc)) from exc


def _open_temporary(target: Path) -> tuple[int, str | None]:
    """(descriptor, temporary name): an unnamed file (name None) where it can be linked later."""
    if _link_method(target.parent) is not None:
        return os.open(target.parent, os.O_TMPFILE | os.O_WRONLY, 0o666), None
    fd, name = tempfile.mkstemp(prefix=_temp_prefix(target), suffix=".tmp", dir=target.parent)
    # mkstemp creates 0600; give the final file the permissions a plain open() would.
    os.fchmod(fd, 0o666 & ~_current_umask())
    return fd, name


def _link_unnamed(fd: int, target: Path) -> str:
    """Give the unnamed file a hidden name beside ``target`` (then renamed over it).

    linkat() cannot replace a file, so the link gets a fresh name first; a process killed
    between the two calls leaves a stale temporary that the next write removes.
    """
    link = _link_method(target.parent)
    assert link is not None, "_open_temporary made an unnamed file only where linking works"
    while True:
        name = os.path.join(target.parent, f"{_temp_prefix(target)}{os.urandom(6).hex()}.tmp")
        try:
            link(fd, name)
            return name
        except FileExistsError:
            continue


def _link_by_descriptor(fd: int, name: str) -> None:
    """linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH): needs CAP_DAC_READ_SEARCH before Linux 6.10."""
    if _libc is None:
        raise OSError(errno.ENOSYS, "no C library")
    if _libc.linkat(fd, b"", _AT_FDCWD, os.fsencode(name), _AT_EMPTY_PATH) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), name)


def _link_through_proc(fd: int, name: str) -> None:
    """The unprivileged way: follow /proc's link to the open file (refused by some kernels)."""
    os.link(f"/proc/self/fd/{fd}", name, follow_symlinks=True)


_LinkMethod = Callable[[int, str], None]
_link_methods: dict[int, _LinkMethod | None] = {}  # per file system (st_dev), probed once


def _link_method(folder: Path) -> _LinkMethod | None:
    """How to name an O_TMPFILE file in ``folder``, or None where it cannot be done."""
    if not hasattr(os, "O_TMPFILE"):
        return None
    device = os.stat(folder).st_dev
    if device not in _link_methods:
        _link_methods[device] = _probe_link_method(folder)
    return _link_methods[device]


def _probe_link_method(folder: Path) -> _LinkMethod | None:
    for method in (_link_by_descriptor, _link_through_proc):
        try:
            fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY, 0o600)
        except OSError:
            return None  # no O_TMPFILE on this file system
        probe = os.path.join(folder, f".whisper-tune-probe.{os.getpid()}.{os.urandom(6).hex()}")
        try:
            method(fd, probe)
        except OSError:
            continue
        else:
            os.unlink(probe)
            return method
        finally:
            os.close(fd)
    return None


def _temp_prefix(target: Path) -> str:
    return f".{target.name}.{os.getpid()}."


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _free_space(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def describe_size(n: int) -> str:
    """A byte count as people read it: ``1.2 GB``, ``3.4 MB``, ``5.6 kB`` or ``78 bytes``."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_AT_FDCWD = -100
_AT_EMPTY_PATH = 0x1000
try:
    _libc: ctypes.CDLL | None = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover - a platform without a loadable C library
    _libc = None
