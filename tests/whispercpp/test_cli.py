"""The user's own whisper-cli as a runtime.

The test uses a whisper-cli on PATH, or builds one once per machine (cached in the test
cache folder) from the whisper.cpp sources inside pywhispercpp 1.5.1's source distribution
on PyPI, fetched with pip (in the temp folder, outside the checkout); it skips with the
reason when neither works (no compiler, cmake or registry).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from whisper_tune.errors import WhisperCppError
from whisper_tune.evaluation.metrics import word_errors
from whisper_tune.transcribe import DecodeOptions
from whisper_tune.whispercpp import transcribe_ggml
from whisper_tune.whispercpp.cli import check_whisper_cli

SDIST = "pywhispercpp==1.5.1"
#: Any program that is not whisper-cli.
NOT_WHISPER_CLI = shutil.which("ls") or "/bin/ls"
BUILD_SECONDS = 1800


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


@pytest.fixture(scope="session")
def whisper_cli_path() -> Path:
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


def test_a_program_that_is_not_whisper_cli_is_refused(tmp_path):
    with pytest.raises(WhisperCppError, match=r"is not whisper-cli: its --help does not list --audio-ctx"):
        check_whisper_cli(NOT_WHISPER_CLI)
    with pytest.raises(WhisperCppError, match="no such executable file"):
        check_whisper_cli(tmp_path / "whisper-cli")


def test_verify_with_a_wrong_whisper_cli_exits_2_before_any_work(embedded_ggml, jfk_wav):
    done = subprocess.run(
        [sys.executable, "-m", "whisper_tune", "verify", str(embedded_ggml["q8_0"]), str(jfk_wav),
         "--reference", "embedded:tiny.en", "--as", "whisper-cli", "--whisper-cli", NOT_WHISPER_CLI],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 2 and "is not whisper-cli" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_whisper_cli_decodes_like_pywhispercpp_with_the_same_parameters(whisper_cli_path, embedded_ggml, jfk_audio,
                                                                        jfk_text):
    cli = check_whisper_cli(whisper_cli_path)
    assert cli.no_flash_attn_flag and cli.suppress_nst_flag  # a 1.8 build
    options = DecodeOptions(beam_size=5, suppress_tokens=(1,))  # any list: whisper-cli can only do -sns
    args = cli.arguments(embedded_ggml["f16"], Path("a.wav"), Path("out"), options, 600, True, False, 1)
    assert args[args.index("-bs") + 1] == "5" and args[args.index("-ac") + 1] == "600"
    assert {"-nt", "-nfa", "-sns", "-nf"} <= set(args)
    cut = jfk_audio[: 16_000 * 8]
    plain = DecodeOptions(beam_size=5, suppress_tokens=())  # no symbol suppression on either side
    out = cli.transcribe(embedded_ggml["f16"], [jfk_audio, cut], plain, [None, 600], [True, True])
    assert word_errors(jfk_text, out[0].text).errors == 0
    binding = transcribe_ggml(embedded_ggml["f16"], [cut], plain, [600], n_threads=1)[0]
    assert out[1].text == binding.text  # same whisper.cpp, same parameters, same words
