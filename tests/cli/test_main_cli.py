"""The console command: help for every subcommand, one clear line for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from whisper_tune.cli.main import COMMAND_MODULES, build_parser, main

WHISPER_TUNE = Path(sys.executable).with_name("whisper-tune")


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    assert action.choices is not None
    return list(action.choices)


def test_help_lists_every_subcommand_with_a_line(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    names = _subcommands()
    assert len(names) >= len(COMMAND_MODULES)
    for name in names:
        line = next(ln for ln in out.splitlines() if ln.strip().startswith(name + " ") or ln.strip() == name)
        assert line.strip() != name, f"{name} has no help line"


@pytest.mark.parametrize("name", _subcommands())
def test_every_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([name, "--help"])
    assert exit_info.value.code == 0
    assert "usage: whisper-tune " + name in capsys.readouterr().out


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "commands" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["transcribe", "--model", "embedded:tiny.en", "MISSING.wav"], "error: MISSING.wav: no such file"),
        (["transcribe", "--model", "no-such-model", "{jfk}"], "error: unknown model spec 'no-such-model'"),
        (["transcribe", "--model", "{tmp}", "{jfk}"], "neither a Hugging Face model folder"),
        (["transcribe", "--model", "embedded:tiny.en", "{bad}"], "cannot decode audio"),
        (["transcribe", "--model", "embedded:tiny.en", "--audio-ctx", "0", "{jfk}"], "--audio-ctx 0 is out of range"),
        (["import-ct2", "{tmp}", "{tmp}/out"], "not a CTranslate2 model folder"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2(tmp_path, jfk_wav, argv, message):
    bad = tmp_path / "bad.wav"
    bad.write_text("RIFF? no.")
    argv = [a.format(jfk=jfk_wav, tmp=tmp_path, bad=bad) for a in argv]
    result = subprocess.run([str(WHISPER_TUNE), *argv], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) == 1


def test_transcribe_prints_the_jfk_sentence(jfk_wav, jfk_text, embedded_path):
    result = subprocess.run([str(WHISPER_TUNE), "transcribe", "--model", "embedded:tiny.en", str(jfk_wav)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.strip().splitlines()
    assert _normalize(line) == _normalize(jfk_text)
    assert (
        _normalize(line)
        == "and so my fellow americans ask not what your country can do for you ask what you can do for your country"
    )


def _normalize(text: str) -> str:
    from whisper_tune.evaluation.normalize import normalize_text

    return normalize_text(text, "en")


def test_transcribe_json(jfk_wav, capsys, embedded_path):
    import json

    assert main(["-q", "transcribe", "--model", "embedded:tiny.en", "--json", "--audio-ctx", "600", str(jfk_wav)]) == 0
    [item] = json.loads(capsys.readouterr().out)
    assert item["source"] == str(jfk_wav) and item["audio_ctx"] == 600
    assert abs(item["duration"] - 11.0) < 0.01 and item["seconds"] > 0
    assert "fellow americans" in item["text"].lower()


#: Every command (nested ones included) with options first, then the same words with the
#: options after (or between) the positional arguments: both must parse to the same namespace.
ORDERINGS: dict[str, tuple[list[str], list[str]]] = {
    "transcribe": (["transcribe", "--model", "m", "--beam-size", "2", "a.wav", "b.wav"],
                   ["transcribe", "a.wav", "--model", "m", "b.wav", "--beam-size", "2"]),
    "import-ct2": (["-q", "import-ct2", "ct2", "out"], ["import-ct2", "ct2", "-q", "out"]),
    "manifest build": (["manifest", "build", "--output", "o.csv", "--split", "val=0.1", "a", "b"],
                       ["manifest", "build", "a", "--output", "o.csv", "b", "--split", "val=0.1"]),
    "manifest validate": (["manifest", "validate", "--strict", "m.csv"], ["manifest", "validate", "m.csv", "--strict"]),
    "train": (["train", "--config", "c.yaml", "lora.rank=4", "seed=1"],
              ["train", "lora.rank=4", "--config", "c.yaml", "seed=1"]),
    "acft": (["acft", "--config", "c.yaml", "max_steps=3"], ["acft", "max_steps=3", "--config", "c.yaml"]),
    "merge": (["--debug", "merge", "adapter", "out"], ["merge", "adapter", "out", "--debug"]),
    "export": (["export", "--dtype", "q8_0", "--out", "x.bin", "model"],
               ["export", "model", "--out", "x.bin", "--dtype", "q8_0"]),
    "inspect": (["inspect", "--json", "f.bin"], ["inspect", "f.bin", "--json"]),
    "check": (["check", "--fix", "model"], ["check", "model", "--fix"]),
    "verify": (["verify", "--reference", "embedded:tiny.en", "--json", "m.bin", "a.wav", "b.wav"],
               ["verify", "m.bin", "--reference", "embedded:tiny.en", "a.wav", "--json", "b.wav"]),
    "eval": (["eval", "--data", "d.csv", "--backend", "whispercpp", "m.bin"],
             ["eval", "m.bin", "--data", "d.csv", "--backend", "whispercpp"]),
    "config show": (["config", "show", "--kind", "acft", "c.yaml", "lora.rank=4"],
                    ["config", "show", "c.yaml", "--kind", "acft", "lora.rank=4"]),
    "config keys": (["-v", "config", "keys", "--kind", "acft"], ["config", "keys", "--kind", "acft", "-v"]),
    "demo": (["demo", "--out", "d", "--restart"], ["demo", "--restart", "--out", "d"]),
    "record": (["record", "--out", "rec", "--port", "0"], ["record", "--port", "0", "--out", "rec"]),
    "push": (["push", "--ggml", "a.bin", "b.bin", "--public", "run", "me/tuned"],
             ["push", "run", "--public", "me/tuned", "--ggml", "a.bin", "b.bin"]),
}


def _leaf_commands(parser=None, prefix: str = "") -> list[str]:
    import argparse

    parser = parser or build_parser()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                nested = _leaf_commands(sub, f"{prefix}{name} ")
                found += nested or [f"{prefix}{name}"]
    return found


def test_every_command_has_an_ordering_case():
    assert sorted(ORDERINGS) == sorted(_leaf_commands())


@pytest.mark.parametrize("command", sorted(ORDERINGS))
def test_options_and_positionals_parse_in_any_order(command):
    first, second = ORDERINGS[command]
    assert sorted(first) == sorted(second), "the two orderings must hold the same words"
    parsed = [vars(build_parser().parse_args(argv)) for argv in (first, second)]
    assert parsed[0] == parsed[1]
    assert parsed[0]["command"] == command.split()[0]


def test_verify_as_people_type_it():
    args = build_parser().parse_args(["verify", "model.bin", "--reference", "embedded:tiny.en", "clip.wav"])
    assert (args.ggml_file, args.reference, args.audio) == ("model.bin", "embedded:tiny.en", ["clip.wav"])


@pytest.mark.parametrize(
    ("argv", "library_message", "shown"),
    [
        (["export", "m", "--dtype", "f16", "--out", "x"], "unknown `dtype` 'q9'", "unknown --dtype 'q9'"),
        (["export", "m", "--dtype", "f16", "--out", "x"], "`name` and `futo` both set a file name",
         "--name and --futo-name both set a file name"),
        (["export", "m", "--dtype", "f16", "--out", "x"], "an adapter as `model_spec` or `adapter`",
         "an adapter as MODEL or --adapter"),
        (["manifest", "build", "a", "-o", "m.csv"], "`split` 'val=2': must be", "--split 'val=2': must be"),
        (["manifest", "build", "a", "-o", "m.csv"], "(given by `text_column`); outside, with `root`",
         "(given by --text-column); outside, with --root"),
        (["record", "--out", "r"], "`root` r: not writable; `port` 1", "--out r: not writable; --port 1"),
        (["verify", "f.bin", "--reference", "m", "a.wav"], "`n_threads` is 0", "--threads is 0"),
        (["eval", "m", "--data", "d.csv"], "see `pip install x` and `unknown_name`",
         "see `pip install x` and `unknown_name`"),
    ],
)
def test_library_parameters_are_shown_as_the_commands_options(argv, library_message, shown):
    from whisper_tune.cli.main import command_parser, in_cli_terms

    parser = build_parser()
    assert in_cli_terms(library_message, command_parser(parser, parser.parse_args(argv))) == shown


def test_a_library_error_names_the_option_on_the_command_line(tmp_path, capsys):
    missing = tmp_path / "no-checkout"
    assert main(["-q", "export", "embedded:tiny.en", "--dtype", "f16", "--whisper-cpp-dir", str(missing)]) == 2
    expected = f"error: {missing}: no such folder; --whisper-cpp-dir takes a whisper.cpp checkout\n"
    assert capsys.readouterr().err == expected


def test_a_bug_asks_for_a_report_with_the_traceback(capsys):
    """Exit 70 (not 2): a programming error is not the user's to fix; the traceback comes along."""
    from whisper_tune.cli.main import run_command

    def buggy(_args):
        table: dict[str, int] = {}
        return table["missing"]

    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command")
    commands.add_parser("buggy").set_defaults(handler=buggy)  # type: ignore[attr-defined]  # Action has no add_parser
    assert run_command(parser, ["buggy"]) == 70
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and 'return table["missing"]' in err
    assert "internal error: KeyError: 'missing'" in err
    assert "This is a bug in whisper-tune" in err and "Please report it at https://" in err
    assert "error: " not in err.replace("internal error: ", "")  # not dressed up as a user error


def test_cloud_parameters_are_shown_as_train_options():
    from whisper_tune.cli.main import command_parser, in_cli_terms

    parser = build_parser()
    train = command_parser(parser, parser.parse_args(["train", "--cloud", "modal"]))
    message = "`provider` aws: only modal; `gpu` X1; `timeout_seconds` 30 s"
    assert in_cli_terms(message, train) == "--cloud aws: only modal; --gpu X1; --timeout 30 s"


def test_logs_follow_stderr_when_it_is_swapped_and_the_old_one_closed(monkeypatch):
    """In-process callers (tests, notebooks) replace sys.stderr and close the old one; logging
    must go to the current stream instead of raising "I/O operation on closed file"."""
    import io
    import logging

    from whisper_tune.cli.main import configure_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging(verbose=0, quiet=False)
    logger = logging.getLogger("whisper_tune.some_module")
    logger.info("one")
    first.close()
    monkeypatch.setattr(sys, "stderr", second)
    logger.info("two")
    logger.warning("three")
    assert second.getvalue() == "two\nwarning: three\n"
