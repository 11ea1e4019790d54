"""verify --as: the verdict as deployed, per whisper.cpp runtime, on real speech."""

from __future__ import annotations

import json

import pytest

from tests.jfk_cuts import jfk_cuts
from whisper_tune.cli.main import main
from whisper_tune.deploy import get_preset
from whisper_tune.evaluation.eval import EvalClip
from whisper_tune.verify.deployed import verify_deployed
from whisper_tune.whispercpp.runtimes import RuntimeUnavailable, current_runtime, runtime_15


@pytest.fixture(scope="module")
def runtimes():
    try:
        return [current_runtime(), runtime_15()]
    except RuntimeUnavailable as exc:
        pytest.skip(f"the whisper.cpp 1.5 runtime cannot be installed here: {exc}")


@pytest.fixture(scope="module")
def deployed_clips(jfk_audio):
    """jfk-a ("And so my fellow Americans", loops in stock tiny.en at FUTO's context) and 1 s of it."""
    first = next(c for c in jfk_cuts(jfk_audio) if c.id == "jfk-a")
    return [first, EvalClip("one-second", jfk_audio[: 16_000], "and so", "en")]


@pytest.mark.slow
def test_stock_tiny_en_fails_as_futo_keyboard_on_both_runtimes(embedded_ggml, embedded_model, embedded_processor,
                                                              runtimes, deployed_clips, tmp_path):
    report = verify_deployed(embedded_ggml["q8_0"], "embedded:tiny.en", deployed_clips, get_preset("futo-keyboard"),
                             runtimes, hf_model=embedded_model, hf_processor=embedded_processor,
                             report_dir=tmp_path)
    assert not report.passed  # 1.8.5 repeats "and so" on the one-second cut; the reference does not
    current, old = report.runtimes
    assert (current.runtime["whisper_cpp"], old.runtime["whisper_cpp"]) == ("1.8.5", "1.5.x")
    assert not current.passed and current.too_short == []
    assert old.too_short == ["one-second"] and "one-second" not in old.empty  # not counted as a model error
    assert report.parameters["beam_size"] == 5 and report.parameters["audio_ctx"] == "futo"
    assert report.parameters["suppress_blank"] is False and report.parameters["entropy_thold"] == 2.4
    markdown = (tmp_path / "verify-deployed.md").read_text()
    assert "## current: whisper.cpp 1.8.5 (pywhispercpp==1.5.1): FAIL" in markdown
    assert "## 1.5: whisper.cpp 1.5.x (pywhispercpp==1.2.0): " in markdown
    assert "too short for this runtime (not counted): one-second" in markdown
    for verdict in report.runtimes:  # every clip a runtime looped on or returned empty is named
        for clip_id in verdict.loops + verdict.empty:
            assert clip_id in markdown
    shown = [c.difference for c in current.clips if c.id == "one-second"]
    assert shown[0].startswith("at token 2: whisper.cpp [ and| so| and| so")  # token by token
    assert "at token 2: whisper.cpp [ and\\| so" in markdown
    written = json.loads((tmp_path / "verify-deployed.json").read_text())
    assert written["preset"]["name"] == "futo-keyboard" and len(written["runtimes"]) == 2

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
