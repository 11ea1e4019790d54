"""SafetensorsReader: rows read with pread equal what the safetensors package reads."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file
from safetensors.torch import save_file as save_torch

from whisper_tune.errors import FormatError
from whisper_tune.formats.safetensors import (
    INDEX_FILE,
    SINGLE_FILE,
    SafetensorsReader,
    has_safetensors,
    tensor_locations,
    weight_files,
)


@pytest.fixture()
def stored(tmp_path):
    rng = np.random.default_rng(0)
    tensors: dict[str, np.ndarray] = {
        "a": rng.standard_normal((7, 3, 5), dtype=np.float32),
        "b": rng.standard_normal(9).astype(np.float16),
        "c": np.arange(12, dtype=np.int64).reshape(3, 4),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path, tensors


def test_rows_match_the_stored_tensors(stored):
    path, tensors = stored
    with SafetensorsReader(path) as reader:
        assert set(reader.tensors) == {"a", "b", "c"}
        assert reader.tensors["a"].shape == (7, 3, 5) and reader.tensors["b"].dtype == "F16"
        np.testing.assert_array_equal(reader.read_rows("a"), tensors["a"])
        np.testing.assert_array_equal(reader.read_rows("a", 2, 5), tensors["a"][2:5])
        np.testing.assert_array_equal(reader.read_rows("a", 6, 99), tensors["a"][6:])
        assert reader.read_rows("b", 1, 4).dtype == np.float16
        np.testing.assert_array_equal(reader.read_rows("c", 1), tensors["c"][1:])


def test_bfloat16_is_widened_exactly(tmp_path):
    values = torch.randn(4, 8).to(torch.bfloat16)
    save_torch({"w": values}, str(tmp_path / "bf.safetensors"))
    with SafetensorsReader(tmp_path / "bf.safetensors") as reader:
        rows = reader.read_rows("w", 1, 3)
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(rows, values[1:3].float().numpy())


def test_truncated_and_garbage_files_are_refused(stored, tmp_path):
    path, _ = stored
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(FormatError, match="corrupt or truncated"):
        SafetensorsReader(cut)
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    with pytest.raises(FormatError, match="not a safetensors file"):
        SafetensorsReader(junk)
    bad_json = tmp_path / "bad.safetensors"
    bad_json.write_bytes(struct.pack("<Q", 3) + b"{x}")
    with pytest.raises(FormatError, match="not JSON"):
        SafetensorsReader(bad_json)


def test_weight_files_single_sharded_and_broken(stored, tmp_path):
    path, _ = stored
    assert weight_files(path.parent) == [path]
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"a": "s-2.safetensors",
                                                                                     "b": "s-1.safetensors"}}))
    with pytest.raises(FormatError, match=r"shard s-1\.safetensors is missing"):
        weight_files(sharded)
    for name in ("s-1.safetensors", "s-2.safetensors"):
        (sharded / name).write_bytes(path.read_bytes())
    assert [p.name for p in weight_files(sharded)] == ["s-1.safetensors", "s-2.safetensors"]
    (sharded / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(FormatError, match="not a readable safetensors index"):
        weight_files(sharded)
    with pytest.raises(FormatError, match=r"no model\.safetensors"):
        weight_files(tmp_path / "nothing-here")


# --- the shard finder: one for export, check and loading; a broken index is a FormatError ---


def _sharded(folder: Path, shards: dict[str, list[str]], index: object | None = None) -> Path:
    """Write real shards (``file -> tensor names``) and an index mapping each tensor to its shard."""
    folder.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    for file, names in shards.items():
        save_file({name: np.full((2, 3), i, dtype=np.float32) for i, name in enumerate(names)}, str(folder / file))
        weight_map |= dict.fromkeys(names, file)
    body = {"metadata": {"total_size": 48}, "weight_map": weight_map} if index is None else index
    (folder / INDEX_FILE).write_text(body if isinstance(body, str) else json.dumps(body), encoding="utf-8")
    return folder


def test_single_file_wins_and_shards_are_located(tmp_path):
    folder = _sharded(tmp_path / "m", {"a.safetensors": ["x", "y"], "b.safetensors": ["z"]})
    assert has_safetensors(folder) and not has_safetensors(tmp_path)
    assert tensor_locations(folder) == {"x": folder / "a.safetensors", "y": folder / "a.safetensors",
                                        "z": folder / "b.safetensors"}
    save_file({"w": np.zeros(1, dtype=np.float32)}, str(folder / SINGLE_FILE))
    assert weight_files(folder) == [folder / SINGLE_FILE]


@pytest.mark.parametrize(("index", "message"), [
    ('{"weight_map": {"x": "a.safetensors",', r"not a readable safetensors index \(not JSON"),
    ("[1, 2]", 'no "weight_map" object'),
    ({"metadata": {}}, 'no "weight_map" object'),
    ({"weight_map": {"x": 7}}, r"weight_map\['x'\] is 7; expected a shard file name"),
    ({"weight_map": {"x": "../elsewhere.safetensors"}}, "outside the model folder"),
    ({"weight_map": {"x": "a.safetensors", "y": "gone.safetensors"}}, r"shard gone\.safetensors is missing"),
    ('{"weight_map": {"x": "a.safetensors", "x": "a.safetensors"}}', "'x' is listed twice"),
])
def test_a_broken_index_is_a_format_error_naming_the_index(tmp_path, index, message):
    folder = _sharded(tmp_path / "m", {"a.safetensors": ["x"]}, index=index)
    with pytest.raises(FormatError, match=message) as info:
        weight_files(folder)
    assert str(folder / INDEX_FILE) in str(info.value)


def test_a_tensor_in_two_shards_and_a_damaged_shard(tmp_path):
    folder = _sharded(tmp_path / "m", {"a.safetensors": ["x"], "b.safetensors": ["y"]})
    save_file({"x": np.zeros(1, dtype=np.float32), "y": np.zeros(1, dtype=np.float32)}, str(folder / "b.safetensors"))
    with pytest.raises(FormatError, match=r"tensor x is in two shards, a\.safetensors and b\.safetensors"):
        tensor_locations(folder)
    (folder / "b.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(FormatError, match=r"b\.safetensors"):
        tensor_locations(folder)
