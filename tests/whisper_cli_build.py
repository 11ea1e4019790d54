"""whisper-cli for the tests: one on PATH, or built once per machine from a registry package.

A test helper, not part of the package. The sources are whisper.cpp's, inside pywhispercpp
1.5.1's source distribution on PyPI, fetched with pip into the temp folder (outside the
checkout), never from a fetched checkout; the build skips the test with the reason when
there is no compiler, cmake or registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

SDIST = "pywhispercpp==1.5.1"
BUILD_SECONDS = 1800


def find_or_build_whisper_cli() -> Path:
    """whisper-cli on PATH, else built once per machine into the temp folder (it takes minutes)."""
    import fcntl
    import tempfile

    found = shutil.which("whisper-cli")
    if found:
        return Path(found)
    cache = Path(tempfile.gettempdir()) / "whisper-tune-whisper-cli-1.8.5"
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time on this machine
        return _build_whisper_cli(cache)


def _build_whisper_cli(cache: Path) -> Path:
    """whisper-cli from the sdist's whisper.cpp, built once into ``cache``."""
    binary = cache / "whisper-cli"
    if binary.is_file():
        return binary
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            pytest.skip(f"no whisper-cli on PATH and no {tool} to build one")
    work = cache / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    env = {**os.environ, "SETUPTOOLS_SCM_PRETEND_VERSION": "1.5.1"}  # the sdist has no git metadata
    download = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", "pywhispercpp",
                               SDIST, "-d", str(work)], capture_output=True, text=True, env=env, timeout=900)
    archives = list(work.glob("pywhispercpp-*.tar.gz"))
    if download.returncode != 0 or not archives:
        pytest.skip(f"no whisper-cli on PATH, and {SDIST}'s sources cannot be downloaded: "
                    f"{download.stderr.strip().splitlines()[-1:]}")
    with tarfile.open(archives[0]) as archive:
        archive.extractall(work, filter="data")
    source = next(work.glob("pywhispercpp-*/whisper.cpp"))
    build = work / "build"
    steps = [["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", "-DBUILD_SHARED_LIBS=OFF",
              "-DWHISPER_BUILD_TESTS=OFF", "-DWHISPER_BUILD_SERVER=OFF"],
             ["cmake", "--build", str(build), "--target", "whisper-cli", "-j", "2"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=BUILD_SECONDS)
        if done.returncode != 0:
            pytest.skip(f"no whisper-cli on PATH, and building one failed: {done.stderr.strip().splitlines()[-1:]}")
    shutil.copy2(build / "bin" / "whisper-cli", binary)
    shutil.rmtree(work, ignore_errors=True)
    return binary
