"""The whisper.cpp 1.5 runtime (pywhispercpp 1.2.0 in its own virtual environment).

The environment is created once in the test cache (tests/conftest.py sets
WHISPER_TUNE_CACHE), with pip from the package registry; the tests skip with the reason when
it cannot be installed here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from whisper_tune.evaluation.metrics import word_errors
from whisper_tune.transcribe import DecodeOptions
from whisper_tune.whispercpp import probe_load, transcribe_ggml
from whisper_tune.whispercpp.runtimes import (
    MIN_SAMPLES_15,
    RuntimeUnavailable,
    current_runtime,
    runtime_15,
)

ALL_TYPES = ("f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")


@pytest.fixture(scope="session")
def runtime15():
    try:
        return runtime_15()
    except RuntimeUnavailable as exc:
        pytest.skip(f"the whisper.cpp 1.5 runtime cannot be installed here: {exc}")


@pytest.fixture(scope="session")
def embedded_ggml_all_types(tmp_path_factory, embedded_ggml) -> dict:
    """Every export type of embedded:tiny.en (f16 and q8_0 shared with the suite's fixture)."""
    from whisper_tune.export.exporter import export_ggml

    out = tmp_path_factory.mktemp("embedded-ggml-all")
    files = dict(embedded_ggml)
    for dtype in ALL_TYPES:
        if dtype not in files:
            files[dtype] = export_ggml("embedded:tiny.en", dtype, out / f"ggml-tiny.en-{dtype}.bin").path
    return files


def test_the_runtimes_name_their_whisper_cpp():
    current = current_runtime()
    assert (current.name, current.binding, current.whisper_cpp) == ("current", "pywhispercpp==1.5.1", "1.8.5")
    assert current.python == sys.executable and current.suppress_regex


@pytest.mark.slow
def test_every_export_type_loads_in_whisper_cpp_15_and_transcribes_jfk_exactly(
        runtime15, embedded_ggml_all_types, jfk_audio, jfk_text):
    assert (runtime15.name, runtime15.binding, runtime15.whisper_cpp) == ("1.5", "pywhispercpp==1.2.0", "1.5.x")
    ask = "import importlib.metadata as m; print(m.version('pywhispercpp'))"
    version = subprocess.run([runtime15.python, "-c", ask], capture_output=True, text=True, check=True).stdout.strip()
    assert version == "1.2.0"
    for dtype in ALL_TYPES:
        path = embedded_ggml_all_types[dtype]
        assert probe_load(path, runtime=runtime15).ok, dtype
        out = transcribe_ggml(path, [jfk_audio], DecodeOptions(), runtime=runtime15, n_threads=1)[0]
        assert word_errors(jfk_text, out.text).errors == 0, (dtype, out.text)
        assert out.tokens and not out.hit_token_cap


@pytest.mark.slow
def test_15_gives_the_current_runtimes_tokens_on_jfk_and_nothing_for_a_one_second_clip(
        runtime15, embedded_ggml, jfk_audio):
    options = DecodeOptions(suppress_tokens=())  # 1.5 has no suppress_regex: compare without a list
    clips = [jfk_audio, jfk_audio[:MIN_SAMPLES_15 - 1], jfk_audio[:MIN_SAMPLES_15]]
    old = transcribe_ggml(embedded_ggml["f16"], clips, options, runtime=runtime15, n_threads=1)
    new = transcribe_ggml(embedded_ggml["f16"], clips[:1], options, n_threads=1)
    assert old[0].tokens == new[0].tokens  # no timestamps in 1.5 either (set in its parameter struct)
    assert old[1].text == "" and old[1].tokens == []  # under 1.0125 s: whisper.cpp 1.5 decodes nothing
    assert old[2].text  # from 16 200 samples on it does


@pytest.mark.slow  # creates a virtual environment (pip's own install): about 20 s
def test_an_offline_install_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("WHISPER_TUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # no registry, and nowhere else to find the wheel
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    expected = r"cannot install the whisper\.cpp 1\.5 runtime .*pywhispercpp==1\.2\.0"
    with pytest.raises(RuntimeUnavailable, match=expected):
        runtime_15()
    assert not (tmp_path / "cache" / "runtimes" / "pywhispercpp-1.2.0").exists()  # nothing half-made left


@pytest.mark.slow
def test_the_cli_says_so_and_exits_2_when_15_cannot_be_installed(tmp_path, embedded_ggml, jfk_wav):
    env = {"WHISPER_TUNE_CACHE": str(tmp_path / "cache"), "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "whisper_tune", "verify", str(embedded_ggml["q8_0"]), str(jfk_wav),
         "--reference", "embedded:tiny.en", "--as", "futo-keyboard", "--runtime", "1.5"],
        capture_output=True, text=True, env={**__import__("os").environ, **env}, timeout=600,
    )
    assert done.returncode == 2
    assert "cannot install the whisper.cpp 1.5 runtime" in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


def test_a_cache_folder_that_cannot_be_created_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be\n")
    monkeypatch.setenv("WHISPER_TUNE_CACHE", str(blocker / "cache"))
    with pytest.raises(RuntimeUnavailable, match=r"cannot install the whisper\.cpp 1\.5 runtime "
                       r"\(pywhispercpp==1\.2\.0\) in .*not-a-folder.*: its folder cannot be created "
                       r"\(Not a directory: .*\).*WHISPER_TUNE_CACHE"):
        runtime_15()
    assert blocker.read_text() == "a file where the cache folder should be\n"
