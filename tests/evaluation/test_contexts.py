"""Audio-context choices: full, FUTO Keyboard's dynamic context, offsets without the floor."""

from __future__ import annotations

import numpy as np
import pytest

from whisper_tune.errors import ConfigError
from whisper_tune.evaluation.contexts import contexts_for, parse_audio_ctx


def test_contexts_for_each_choice():
    clips = [np.zeros(16_000, np.float32), np.zeros(64_001, np.float32), np.zeros(480_000, np.float32)]
    assert contexts_for(clips, "full") == [None, None, None]
    # ceil(16000/320)=50, ceil(64001/320)=201, 1500: +32, floor 160, ceiling 1500
    assert contexts_for(clips, "futo") == [160, 233, 1500]
    assert contexts_for(clips, "futo+8") == [58, 209, 1500]  # no floor
    assert contexts_for(clips, 300) == [300, 300, 300]


@pytest.mark.parametrize("bad", ["half", "futo+", "0", "1501", "futo-8", ""])
def test_bad_choices_are_config_errors(bad):
    with pytest.raises(ConfigError, match="audio context"):
        parse_audio_ctx(bad)
