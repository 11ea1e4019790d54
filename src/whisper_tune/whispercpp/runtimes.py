"""The whisper.cpp builds whisper-tune can run a GGML file in: ``current`` and ``1.5``.

- ``current``: pywhispercpp 1.5.1 (whisper.cpp 1.8.5), installed with whisper-tune;
- ``1.5``: pywhispercpp 1.2.0, which bundles whisper.cpp of the 1.5 generation (late 2023),
  the generation FUTO's apps vendor. Its extension module has the same name as 1.5.1's, so
  it cannot share a process or a site-packages with it: on first use whisper-tune creates a
  virtual environment for it in its cache folder (``<cache>/runtimes/pywhispercpp-1.2.0``)
  and installs it there with pip from the package registry. The worker
  (:mod:`.worker`) runs under that environment's interpreter.

What the 1.5 runtime cannot do, measured with pywhispercpp 1.2.0: it returns no text at all
for a clip shorter than :data:`MIN_SAMPLES_15` samples (about 1 s; whisper.cpp 1.5 skips
audio under 100 mel frames, without a log line), it has no ``suppress_regex`` (only the
non-speech symbol set) and no flash attention.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

from whisper_tune.errors import WhisperCppError
from whisper_tune.models.cache import cache_root

log = logging.getLogger(__name__)

RUNTIME_CHOICES: tuple[str, ...] = ("current", "1.5", "both")
BINDING_15 = "pywhispercpp==1.2.0"
#: Shortest clip (samples at 16 kHz) for which pywhispercpp 1.2.0 returns any text: measured
#: on three parts of jfk.wav, 16 199 samples gave no segment and 16 200 gave one.
MIN_SAMPLES_15 = 16_200
#: Seconds allowed for creating the 1.5 environment and installing its two packages.
INSTALL_SECONDS = 600.0


class RuntimeUnavailable(WhisperCppError):
    """A whisper.cpp runtime cannot be set up (offline, no wheel for this Python...)."""


@dataclass(frozen=True)
class Runtime:
    """One whisper.cpp build and the interpreter that runs the worker for it."""

    name: str  # "current" | "1.5"
    binding: str  # the PyPI package and version that bundles it
    whisper_cpp: str  # whisper.cpp's version
    python: str  # interpreter for the worker
    suppress_regex: bool  # supports suppress_regex (exact suppression of a token list)
    min_samples: int = 0  # shorter clips come back empty

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "binding": self.binding, "whisper_cpp": self.whisper_cpp, "python": self.python}

    def describe(self) -> str:
        return f"{self.name} (whisper.cpp {self.whisper_cpp}, {self.binding})"


def current_runtime() -> Runtime:
    """The pywhispercpp installed beside whisper-tune (1.5.1 = whisper.cpp 1.8.5)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        binding = version("pywhispercpp")
    except PackageNotFoundError as exc:
        raise RuntimeUnavailable("pywhispercpp is not installed; reinstall whisper-tune (it depends on it)") from exc
    whisper_cpp = "1.8.5" if binding == "1.5.1" else f"bundled with pywhispercpp {binding}"
    return Runtime("current", f"pywhispercpp=={binding}", whisper_cpp, sys.executable, suppress_regex=True)


def runtime_15(install: bool = True) -> Runtime:
    """The whisper.cpp 1.5 runtime, created in the cache folder on first use.

    Raises :class:`RuntimeUnavailable` with pip's own words when it cannot be installed.
    """
    folder = runtimes_dir() / BINDING_15.replace("==", "-")
    python = folder / "bin" / "python"
    if not _ready(folder):
        if not install:
            raise RuntimeUnavailable(f"the whisper.cpp 1.5 runtime is not installed in {folder}")
        _create(folder)
    return Runtime("1.5", BINDING_15, "1.5.x", str(python), suppress_regex=False, min_samples=MIN_SAMPLES_15)


def resolve_runtimes(choice: str) -> list[Runtime]:
    """``current``, ``1.5`` or ``both`` as runtimes (installing 1.5 if needed)."""
    if choice not in RUNTIME_CHOICES:
        raise WhisperCppError(f"unknown runtime {choice!r}; expected one of {', '.join(RUNTIME_CHOICES)}")
    runtimes = []
    if choice in ("current", "both"):
        runtimes.append(current_runtime())
    if choice in ("1.5", "both"):
        runtimes.append(runtime_15())
    return runtimes


def runtimes_dir() -> Path:
    return cache_root() / "runtimes"


# --- internals ---------------------------------------------------------------------------

_MARKER = ".whisper-tune-ready"


def _ready(folder: Path) -> bool:
    return (folder / _MARKER).is_file() and (folder / "bin" / "python").exists()


def _create(folder: Path) -> None:
    """Build the environment next to its final place and rename it there when it works."""
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = open(folder.parent / f"{folder.name}.lock", "w")  # noqa: SIM115 (held for the whole build)
    except OSError as exc:
        raise _cannot_install(folder, f"its folder cannot be created ({exc.strerror or exc}: {exc.filename})",
                              "set WHISPER_TUNE_CACHE to a writable folder") from exc
    with lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be creating it right now
        if _ready(folder):
            return
        staging = folder.parent / f"{folder.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        log.info("creating the whisper.cpp 1.5 runtime (%s) in %s", BINDING_15, folder)
        try:
            _make_environment(staging, folder)
            _pip_install(staging, [BINDING_15, "numpy"])
            _check_import(staging)
            (staging / _MARKER).write_text(BINDING_15 + "\n", encoding="utf-8")
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)  # never leave a half-made environment behind
            raise
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(staging, folder)


def _make_environment(staging: Path, folder: Path) -> None:
    """A virtual environment with pip (ensurepip); its own output becomes the error's reason."""
    try:
        venv.EnvBuilder(with_pip=True, symlinks=True).create(staging)
    except subprocess.CalledProcessError as exc:  # ensurepip failed; it printed why into exc.output
        said = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else str(exc.output or "")
        reason = " | ".join(_last_lines(said)) or f"exit status {exc.returncode}"
        raise _cannot_install(folder, f"installing pip into its virtual environment failed ({reason})",
                              f"check the free space in {folder.parent}") from exc
    except OSError as exc:
        raise _cannot_install(folder, f"its virtual environment cannot be created ({exc})",
                              f"check the free space and permissions in {folder.parent}") from exc


def _cannot_install(folder: Path, reason: str, fix: str) -> RuntimeUnavailable:
    return RuntimeUnavailable(f"cannot install the whisper.cpp 1.5 runtime ({BINDING_15}) in {folder}: {reason}; "
                              f"{fix}, or use --runtime current to run without it")


def _last_lines(text: str, count: int = 2) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()][-count:]


def _pip_install(env: Path, packages: list[str]) -> None:
    command = [str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
               *packages]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_SECONDS, check=False)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeUnavailable(f"installing {' '.join(packages)} took more than {INSTALL_SECONDS:.0f} s; "
                                 "check the connection to the package registry") from exc
    if done.returncode != 0:
        said = _last_lines(done.stderr or done.stdout)
        raise RuntimeUnavailable(
            f"cannot install the whisper.cpp 1.5 runtime ({' '.join(packages)}) with pip: "
            f"{' | '.join(said) or 'no output'}. It needs the package registry (PyPI) once, and a Python "
            "for which pywhispercpp 1.2.0 has a wheel; use --runtime current to run without it"
        )


def _check_import(env: Path) -> None:
    done = subprocess.run([str(env / "bin" / "python"), "-c", "import _pywhispercpp"], capture_output=True,
                          text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeUnavailable(f"the whisper.cpp 1.5 runtime was installed but does not import: "
                                 f"{done.stderr.strip().splitlines()[-1:] or done.returncode}")
