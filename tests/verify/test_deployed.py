"""verify --as: the verdict as deployed, per whisper.cpp runtime, on real speech."""

from __future__ import annotations

import json

import pytest

from tests.jfk_cuts import jfk_cuts
from whisper_tune.audio import load_audio
from whisper_tune.cli.main import main
from whisper_tune.deploy import get_preset
from whisper_tune.evaluation.eval import EvalClip
from whisper_tune.verify.deployed import verify_deployed
from whisper_tune.whispercpp.cli import check_whisper_cli, write_wav
from whisper_tune.whispercpp.runtimes import RuntimeUnavailable, current_runtime, runtime_15


@pytest.fixture(scope="module")
def runtimes():
    try:
        return [current_runtime(), runtime_15()]
    except RuntimeUnavailable as exc:
        pytest.skip(f"the whisper.cpp 1.5 runtime cannot be installed here: {exc}")


ADVISORY_185 = ("FAIL (advisory: FUTO Keyboard ships whisper.cpp 1.5; matters only if you also run this file in a "
                "current whisper.cpp, e.g. whisper-cli on a desktop)")
DECIDES_15 = "(decides the verdict: FUTO Keyboard ships whisper.cpp 1.5)"


@pytest.fixture(scope="module")
def one_second(jfk_audio):
    """jfk.wav's first second ("And so"): too short for the 1.5 runtime; 1.8.5 decodes it.

    Under beam search every clip gets a fresh model and a settling decode (see the worker), so
    what a clip gives no longer depends on the clips decoded before it.
    """
    return EvalClip("one-second", jfk_audio[: 16_000], "and so", "en")


@pytest.mark.slow
def test_stock_tiny_en_fails_as_futo_keyboard_when_the_shipped_runtime_loops(
        embedded_ggml, embedded_model, embedded_processor, runtimes, jfk_audio, one_second, tmp_path):
    jfk_a = next(c for c in jfk_cuts(jfk_audio) if c.id == "jfk-a")  # "And so my fellow Americans", 2.7 s
    report = verify_deployed(embedded_ggml["q8_0"], "embedded:tiny.en", [one_second, jfk_a],
                             get_preset("futo-keyboard"), runtimes, hf_model=embedded_model,
                             hf_processor=embedded_processor, report_dir=tmp_path)
    current, old = report.runtimes
    assert (current.runtime["whisper_cpp"], old.runtime["whisper_cpp"]) == ("1.8.5", "1.5.x")
    assert not report.passed and report.deciding_runtimes == ["1.5"] and report.shipped_runtime_run
    assert not old.passed and old.loops == ["jfk-a"] and not old.advisory  # the runtime FUTO ships decides
    assert not current.passed and current.loops == ["jfk-a"] and current.advisory  # 1.8.5 loops on it too
    assert current.too_short == [] and old.too_short == ["one-second"] and "one-second" not in old.empty
    assert report.reason.startswith("FUTO Keyboard ships whisper.cpp 1.5: 1.5 (whisper.cpp 1.5.x): 1 clip(s) loop")
    assert report.reason.endswith("; advisory, not deciding: current (whisper.cpp 1.8.5) fails")
    assert report.parameters["beam_size"] == 5 and report.parameters["audio_ctx"] == "futo"
    assert report.parameters["suppress_blank"] is False and report.parameters["entropy_thold"] == 2.4
    # agreement over the clips a runtime decodes: the too-short clip is in neither count
    assert (old.clips_decoded, old.same_text, current.clips_decoded) == (1, 0, 2)
    assert old.agreement() == ("same text as the reference on 0 of 1 clips this runtime decodes "
                               "(1 too short for it, not counted); same tokens on 0 of 1")
    assert current.agreement() == (f"same text as the reference on {current.same_text} of 2 clips; same tokens on "
                                   f"{current.same_tokens} of 2")  # nothing too short: the plain wording
    markdown = (tmp_path / "verify-deployed.md").read_text()
    assert f"## current: whisper.cpp 1.8.5 (pywhispercpp==1.5.1): {ADVISORY_185}" in markdown
    assert f"## 1.5: whisper.cpp 1.5.x (pywhispercpp==1.2.0): FAIL {DECIDES_15}" in markdown
    assert "- decided by: 1.5; advisory only: current" in markdown
    assert "too short for this runtime (not counted): one-second" in markdown
    assert markdown.count("- looped: jfk-a") == 2  # per runtime
    assert old.agreement() in markdown and "of 3 clips" not in markdown
    shown = [c.difference for c in current.clips if c.id == "jfk-a"]  # the reference stops, whisper.cpp repeats
    assert shown == ["at token 12: whisper.cpp [ And| so| my| fellow| Americans|.|...] / reference []"]
    assert "at token 12: whisper.cpp [ And\\| so\\| my" in markdown  # token by token
    written = json.loads((tmp_path / "verify-deployed.json").read_text())
    assert written["preset"]["name"] == "futo-keyboard" and written["preset"]["shipped_runtimes"] == ["1.5"]
    assert written["family"] == report.family == "tiny.en, English-only, 80 mel"
    assert "- family: tiny.en, English-only, 80 mel" in markdown
    assert (written["passed"], written["deciding_runtimes"], written["shipped_runtime_run"]) == (False, ["1.5"], True)
    assert [(r["runtime"]["name"], r["advisory"]) for r in written["runtimes"]] == [("current", True), ("1.5", False)]
    assert written["runtimes"][1]["clips_decoded"] == 1 and written["runtimes"][1]["agreement"] == old.agreement()


@pytest.mark.slow
def test_a_loop_only_in_a_runtime_the_client_does_not_ship_is_advice(
        embedded_ggml, embedded_model, embedded_processor, runtimes, jfk_audio, real_clips_dir, tmp_path):
    jfk_b = next(c for c in jfk_cuts(jfk_audio) if c.id == "jfk-b")  # "ask not", 1.9 s: no loop in either
    # "No.", 1.0 s: too short for the 1.5 runtime; stock tiny.en loops on it in 1.8.5 ("No... No... No...")
    no = EvalClip("nemoan4_4", load_audio(real_clips_dir / "nemoan4_4.wav"), "no", "en")
    report = verify_deployed(embedded_ggml["q8_0"], "embedded:tiny.en", [no, jfk_b],
                             get_preset("futo-keyboard"), runtimes, hf_model=embedded_model,
                             hf_processor=embedded_processor, report_dir=tmp_path)
    current, old = report.runtimes
    assert report.passed and old.passed and not current.passed and current.loops == ["nemoan4_4"]
    assert report.reason == ("FUTO Keyboard ships whisper.cpp 1.5: passes on 1.5 (whisper.cpp 1.5.x); "
                             "advisory, not deciding: current (whisper.cpp 1.8.5) fails")
    markdown = (tmp_path / "verify-deployed.md").read_text()
    assert markdown.startswith("# ggml-tiny.en-q8_0.bin as deployed (futo-keyboard): PASS")
    assert f"## current: whisper.cpp 1.8.5 (pywhispercpp==1.5.1): {ADVISORY_185}" in markdown
    assert f"## 1.5: whisper.cpp 1.5.x (pywhispercpp==1.2.0): PASS {DECIDES_15}" in markdown
    assert "- looped: nemoan4_4" in markdown  # reported in full all the same
    assert old.agreement() == ("same text as the reference on 1 of 1 clips this runtime decodes "
                               "(1 too short for it, not counted); same tokens on 1 of 1")


def test_when_the_shipped_runtime_is_not_run_the_verdict_is_the_one_that_ran_and_says_so(
        embedded_ggml, jfk_audio, tmp_path, capsys):
    clip = tmp_path / "two-seconds.wav"
    write_wav(clip, jfk_audio[: 32_000])
    clip.with_suffix(".txt").write_text("and so my fellow\n", encoding="utf-8")
    code = main(["verify", str(embedded_ggml["q8_0"]), str(clip), "--reference", "embedded:tiny.en", "--as",
                 "futo-keyboard", "--runtime", "current", "--report", str(tmp_path / "report")])
    assert code == 1  # 1.8.5 loops on it: conservative, although FUTO Keyboard never runs 1.8.5
    err = capsys.readouterr().err
    assert "FUTO Keyboard ships whisper.cpp 1.5, which was not run" in err
    assert "run with --runtime 1.5 or --runtime both for the verdict as deployed" in err
    written = json.loads((tmp_path / "report" / "verify-deployed.json").read_text())
    assert (written["passed"], written["shipped_runtime_run"], written["deciding_runtimes"]) == (False, False,
                                                                                                ["current"])
    assert written["runtimes"][0]["advisory"] is False and written["runtimes"][0]["loops"] == ["two-seconds.wav"]
    markdown = (tmp_path / "report" / "verify-deployed.md").read_text()
    assert f"- **{written['note']}**" in markdown and "which was not run: this verdict is judged on current" in markdown
    assert "FAIL (decides the verdict in place of the runtime FUTO Keyboard ships, which was not run)" in markdown


@pytest.mark.slow
def test_whisper_cli_report_names_each_preset_parameter_it_cannot_take(
        whisper_cli_path, embedded_ggml, embedded_model, embedded_processor, jfk_audio, tmp_path):
    jfk_b = next(c for c in jfk_cuts(jfk_audio) if c.id == "jfk-b")
    cli = check_whisper_cli(whisper_cli_path)
    report = verify_deployed(embedded_ggml["q8_0"], "embedded:tiny.en", [jfk_b], get_preset("futo-keyboard"), [cli],
                             hf_model=embedded_model, hf_processor=embedded_processor, report_dir=tmp_path)
    (verdict,) = report.runtimes
    assert not report.shipped_runtime_run and not verdict.advisory  # FUTO Keyboard does not ship whisper-cli
    assert verdict.same_tokens is None and verdict.agreement().endswith("tokens not compared (whisper-cli prints "
                                                                        "text only)")
    markdown = (tmp_path / "verify-deployed.md").read_text()
    for line in ("not settable through whisper-cli: max_tokens=256 (whisper-cli uses its default 0)",
                 "not settable through whisper-cli: suppress_blank=False (whisper-cli uses its default True)",
                 "not settable through whisper-cli: single_segment=True (whisper-cli uses its default False)"):
        assert f"- {line}\n" in markdown and line in verdict.unsettable


def test_an_empty_glossary_and_an_overlong_prompt_exit_2(embedded_ggml, jfk_wav, tmp_path, capsys):
    empty = tmp_path / "terms.txt"
    empty.write_text("\n", encoding="utf-8")
    base = ["verify", str(embedded_ggml["q8_0"]), str(jfk_wav), "--reference", "embedded:tiny.en", "--as",
            "futo-keyboard"]
    assert main([*base, "--glossary", str(empty)]) == 2
    assert "no terms found" in capsys.readouterr().err
    assert main([*base, "--prompt", " word" * 300]) == 2
    assert "keeps only the last 224" in capsys.readouterr().err
    assert main(["verify", str(embedded_ggml["q8_0"]), str(jfk_wav), "--reference", "embedded:tiny.en",
                 "--runtime", "1.5"]) == 2
    assert "go with --as PRESET" in capsys.readouterr().err
