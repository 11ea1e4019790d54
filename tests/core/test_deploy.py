"""Deployment presets, glossaries and the prompt limit."""

from __future__ import annotations

import numpy as np
import pytest

from whisper_tune.deploy import (
    PRESETS,
    RUNTIME_NAMES,
    SAMPLES_25_S,
    DeploymentPreset,
    check_prompt,
    get_preset,
    glossary_prompt,
    read_glossary,
    resolve_prompt,
)
from whisper_tune.errors import ConfigError, DataError
from whisper_tune.evaluation.contexts import parse_audio_ctx


def test_every_preset_is_complete_and_its_context_is_understood():
    assert set(PRESETS) == {"futo-keyboard", "futo-voice", "whisper-cli"}
    for name, preset in PRESETS.items():
        assert preset.name == name and preset.description
        assert parse_audio_ctx(preset.audio_ctx) == preset.audio_ctx
        options = preset.options("(Glossary: x)", [11, 12])
        assert options.raw_max_tokens and options.whisper_cpp_rules
        assert options.prompt == "(Glossary: x)" and options.entropy_thold == 2.4
        assert options.suppress_tokens == ((11, 12) if preset.suppress_non_speech else ())


def test_futo_keyboard_is_beam_5_at_its_floored_context_without_blank_suppression():
    keyboard = get_preset("futo-keyboard")
    options = keyboard.options()
    settings = (options.beam_size, options.max_tokens, options.temperature_inc, options.suppress_blank)
    assert settings == (5, 256, 0.0, False)
    one_second, ten_seconds = np.zeros(16_000, np.float32), np.zeros(160_000, np.float32)
    assert keyboard.contexts([one_second, ten_seconds]) == [160, 532]  # 50 + 32 floored; 500 + 32
    assert get_preset("futo-voice").contexts([one_second]) == [82]  # 50 + 32, no floor


def test_timestamps_come_back_at_25_seconds_for_the_keyboard_and_past_30_for_voice_input():
    keyboard, voice = get_preset("futo-keyboard"), get_preset("futo-voice")
    clips = [np.zeros(SAMPLES_25_S - 1, np.float32), np.zeros(SAMPLES_25_S, np.float32),
             np.zeros(16_000 * 30, np.float32), np.zeros(16_000 * 30 + 1, np.float32)]
    assert keyboard.no_timestamps(clips) == [True, False, False, False]
    assert voice.no_timestamps(clips) == [True, True, True, False]
    assert get_preset("whisper-cli").no_timestamps(clips) == [True] * 4


def test_each_preset_names_the_whisper_cpp_its_client_ships():
    assert RUNTIME_NAMES == ("current", "1.5", "whisper-cli")
    for name in ("futo-keyboard", "futo-voice"):  # FUTO's apps vendor whisper.cpp of the 1.5 generation
        assert get_preset(name).shipped_runtimes == ("1.5",)
        assert get_preset(name).ships("1.5") and not get_preset(name).ships("current")
    assert get_preset("futo-keyboard").shipped_description() == "FUTO Keyboard ships whisper.cpp 1.5"
    desktop = get_preset("whisper-cli")
    assert desktop.shipped_runtimes == ("current", "whisper-cli") and not desktop.ships("1.5")
    assert desktop.shipped_description() == ("whisper-cli ships a current whisper.cpp (1.8.5 here) or the user's own "
                                             "whisper-cli build")
    assert get_preset("futo-voice").to_dict()["shipped_runtimes"] == ["1.5"]  # a JSON list in reports


@pytest.mark.parametrize("shipped", [(), ("1.6",), ("1.5", "main")])
def test_a_preset_must_ship_known_runtimes(shipped):
    fields = {**get_preset("futo-keyboard").__dict__, "shipped_runtimes": shipped}
    with pytest.raises(ConfigError, match=r"shipped_runtimes .* must name at least one runtime, each one of "
                                          r"current, 1\.5, whisper-cli"):
        DeploymentPreset(**fields)


def test_unknown_preset_names_the_choices():
    with pytest.raises(ConfigError, match="futo-keyboard, futo-voice, whisper-cli"):
        get_preset("futo")


def test_glossary_file_becomes_futos_prompt(tmp_path):
    terms = tmp_path / "terms.txt"
    terms.write_text("# my words\nKubernetes\n\n  kubectl  \nnginx\n", encoding="utf-8")
    assert read_glossary(terms) == ["Kubernetes", "kubectl", "nginx"]
    assert resolve_prompt(terms) == glossary_prompt(["Kubernetes", "kubectl", "nginx"]) == \
        "(Glossary: Kubernetes, kubectl, nginx)"


@pytest.mark.parametrize("content", ["", "\n  \n# only a comment\n"])
def test_empty_glossary_is_refused(tmp_path, content):
    terms = tmp_path / "terms.txt"
    terms.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=r"terms\.txt: no terms found; expected one domain term per line"):
        read_glossary(terms)


def test_glossary_and_prompt_together_or_an_empty_prompt_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="not both"):
        resolve_prompt(tmp_path / "x.txt", "hi")
    with pytest.raises(ConfigError, match="the prompt is empty"):
        resolve_prompt(None, "  ")


def test_prompt_over_224_whisper_cpp_tokens_is_refused(embedded_processor):
    from whisper_tune.transcribe.hf import text_vocab

    vocab = text_vocab(embedded_processor.tokenizer)
    assert check_prompt(glossary_prompt(["Kubernetes"] * 40), vocab) <= 224
    with pytest.raises(ConfigError, match=r"is 2\d\d tokens long; whisper.cpp keeps only the last 224"):
        check_prompt(glossary_prompt(["Kubernetes"] * 50), vocab)
