"""The user's own whisper-cli as a runtime.

The tests use the ``whisper_cli_path`` fixture (tests/conftest.py, built by
tests/whisper_cli_build.py): a whisper-cli on PATH, or one built once per machine from the
whisper.cpp sources inside pywhispercpp 1.5.1's source distribution on PyPI; it skips with
the reason when neither works (no compiler, cmake or registry).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_tune.errors import WhisperCppError
from whisper_tune.evaluation.metrics import word_errors
from whisper_tune.transcribe import DecodeOptions
from whisper_tune.whispercpp import transcribe_ggml
from whisper_tune.whispercpp.cli import WhisperCli, check_whisper_cli

#: Any program that is not whisper-cli.
NOT_WHISPER_CLI = shutil.which("ls") or "/bin/ls"


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


def test_each_parameter_whisper_cli_has_no_option_for_is_named_with_the_value_it_uses():
    futo = {"beam_size": 5, "max_tokens": 256, "suppress_blank": False, "suppress_nst": True, "flash_attn": False,
            "no_context": True, "single_segment": True}
    build_18 = WhisperCli(Path("whisper-cli"), no_flash_attn_flag=True, flash_attn_flag=True, suppress_nst_flag=True)
    assert [p.describe() for p in build_18.unsettable(futo)] == [
        "not settable through whisper-cli: max_tokens=256 (whisper-cli uses its default 0)",
        "not settable through whisper-cli: suppress_blank=False (whisper-cli uses its default True)",
        "not settable through whisper-cli: single_segment=True (whisper-cli uses its default False)",
        "not settable through whisper-cli: no_context=True (whisper-cli uses its default True) (the same value)",
    ]
    old_build = WhisperCli(Path("main"), no_flash_attn_flag=False, flash_attn_flag=False, suppress_nst_flag=False)
    extra = {p.name: p.used for p in old_build.unsettable({**futo, "flash_attn": True})}
    assert extra["suppress_nst"] is False and extra["flash_attn"] is False  # no -sns, no -fa: neither exists
    assert "flash_attn" not in {p.name for p in old_build.unsettable(futo)}  # off is what it does anyway
