"""Audio loading: every format, rate and channel count becomes 16 kHz mono float32."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from whisper_tune.audio import audio_info, load_audio
from whisper_tune.errors import AudioError


def _tone(seconds: float, rate: int, channels: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * 440 * t)
    return np.stack([mono] * channels, axis=1) if channels > 1 else mono


@pytest.mark.parametrize(
    ("ext", "fmt", "subtype", "rate", "channels"),
    [
        ("wav", "WAV", "PCM_16", 16000, 1),
        ("wav", "WAV", "FLOAT", 44100, 2),
        ("flac", "FLAC", "PCM_24", 48000, 1),
        ("ogg", "OGG", "VORBIS", 22050, 2),
        ("mp3", "MP3", "MPEG_LAYER_III", 44100, 1),
    ],
)
def test_formats_rates_and_channels(tmp_path, ext, fmt, subtype, rate, channels):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, _tone(1.5, rate, channels), rate, format=fmt, subtype=subtype)
    samples = load_audio(path)
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) - 24000) <= 1200  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(samples[4000:20000]))
    assert abs(np.argmax(spectrum) * 16000 / 16000 - 440) < 2  # still a 440 Hz tone
    info = audio_info(path)
    assert info.sample_rate == rate and info.channels == channels


def test_real_speech_is_unchanged_at_16k(jfk_wav):
    samples = load_audio(jfk_wav)
    raw, rate = sf.read(jfk_wav, dtype="float32")
    assert rate == 16000
    np.testing.assert_array_equal(samples, raw)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(AudioError, match=r"missing\.wav: no such file"):
        load_audio(tmp_path / "missing.wav")
    bad = tmp_path / "text.wav"
    bad.write_text("not audio")
    with pytest.raises(AudioError, match=r"text\.wav: cannot decode audio"):
        load_audio(bad)
    with pytest.raises(AudioError, match="is not a file"):
        load_audio(tmp_path)
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):
        load_audio(empty)
