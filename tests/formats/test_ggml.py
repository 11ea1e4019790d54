"""formats/ggml: writer and reader agree; the validator finds every inconsistency in real files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from whisper_tune.errors import FormatError
from whisper_tune.formats.ggml import (
    F32_CPU_WARNING,
    GgmlType,
    GgmlWriter,
    Hparams,
    expected_tensors,
    file_ftype,
    read_ggml,
    summarize_ggml,
    validate_ggml,
)

VOCAB = [b"!", b"hello", b" world", b"\xe2\x82", b""]


def tiny_hparams(dtype: str = "f16", **changes) -> Hparams:
    hp = Hparams(n_vocab=51864, n_audio_ctx=8, n_audio_state=32, n_audio_head=2, n_audio_layer=1,
                 n_text_ctx=6, n_text_state=32, n_text_head=2, n_text_layer=1, n_mels=80, ftype=file_ftype(dtype))
    return dataclasses.replace(hp, **changes)


def write_model(path: Path, hp: Hparams, tensors=None, vocab=VOCAB, mel_shape=(80, 201)) -> dict[str, np.ndarray]:
    """A complete (or, through ``tensors``, deliberately broken) model file; returns the values."""
    specs = (
        {name: (spec.shape, spec.ttype) for name, spec in expected_tensors(hp).items()} if tensors is None else tensors
    )
    values = {}
    with open(path, "wb") as handle:
        writer = GgmlWriter(handle)
        writer.write_header(hp, np.linspace(0, 1, int(np.prod(mel_shape)), dtype=np.float32).reshape(mel_shape), vocab)
        for index, (name, (shape, ttype)) in enumerate(specs.items()):
            values[name] = (
                (((np.arange(int(np.prod(shape))) * 37 + index) % 101 - 50) / 64).astype(np.float32).reshape(shape)
            )
            writer.write_tensor(name, ttype, values[name])
    return values


def specs_of(hp: Hparams) -> dict:
    return {name: (spec.shape, spec.ttype) for name, spec in expected_tensors(hp).items()}


def messages(path: Path, **kwargs) -> str:
    return "\n".join(str(p) for p in validate_ggml(path, **kwargs))


@pytest.mark.parametrize("dtype", ["f32", "f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"])
def test_round_trip(tmp_path, dtype):
    hp = tiny_hparams(dtype)
    values = write_model(tmp_path / "m.bin", hp)
    ggml = read_ggml(tmp_path / "m.bin")
    assert ggml.hparams == hp and ggml.dtype == dtype
    assert ggml.vocab == VOCAB and ggml.mel_filters.shape == (80, 201)
    assert ggml.tensor_order == list(expected_tensors(hp))
    assert ggml.tensors["encoder.conv1.bias"].shape == (32, 1)
    assert ggml.tensors["decoder.token_embedding.weight"].shape == (51864, 32)
    tolerance = {"f32": 0, "f16": 1e-3}.get(dtype, 0.2)
    for name, tensor in ggml.tensors.items():
        assert np.abs(tensor.to_float32() - values[name]).max() <= tolerance, name
    assert ggml.structure_problems == []
    problems = validate_ggml(ggml)
    assert [p for p in problems if p.severity == "error"] == []
    assert (F32_CPU_WARNING in [p.message for p in problems]) == (dtype == "f32")
    assert any("the vocabulary lists only 5 tokens" in p.message for p in problems)
    assert sum(ggml.bytes_per_type().values()) + ggml.tensors["encoder.conv1.weight"].offset > 0


def test_tensor_dims_are_stored_reversed(tmp_path):
    write_model(tmp_path / "m.bin", tiny_hparams())
    tensor = read_ggml(tmp_path / "m.bin").tensors["encoder.conv1.weight"]
    raw = (tmp_path / "m.bin").read_bytes()
    name = b"encoder.conv1.weight"
    dims = np.frombuffer(raw[tensor.offset - len(name) - 12 : tensor.offset - len(name)], dtype="<i4")
    assert list(dims) == [3, 80, 32]  # ne[0] = kernel width, the contiguous axis


def test_wrong_type_is_reported(tmp_path):
    specs = specs_of(tiny_hparams("q8_0"))
    specs["encoder.conv1.weight"] = (specs["encoder.conv1.weight"][0], GgmlType.F32)  # whisper-quantize on an f32 file
    write_model(tmp_path / "m.bin", tiny_hparams("q8_0"), specs)
    assert "tensor encoder.conv1.weight is f32, expected f16 in a q8_0 file" in messages(tmp_path / "m.bin")


def test_wrong_shape_missing_and_unknown_tensors(tmp_path):
    specs = specs_of(tiny_hparams())
    del specs["decoder.ln.bias"]
    specs["decoder.positional_embedding"] = ((448, 32), GgmlType.F32)
    specs["decoder.proj.weight"] = ((51864, 32), GgmlType.F16)
    write_model(tmp_path / "m.bin", tiny_hparams(), specs)
    found = messages(tmp_path / "m.bin")
    assert "decoder.positional_embedding has shape [448, 32], expected [6, 32]" in found
    assert "1 tensor(s) missing: decoder.ln.bias" in found
    assert "unknown tensor decoder.proj.weight (an untied output projection" in found


def test_truncated_data_is_reported(tmp_path):
    write_model(tmp_path / "m.bin", tiny_hparams())
    raw = (tmp_path / "m.bin").read_bytes()
    (tmp_path / "m.bin").write_bytes(raw[:-10])
    found = validate_ggml(tmp_path / "m.bin")
    assert [p.tensor for p in found if "truncated" in p.message] == ["decoder.ln.bias"]
    with pytest.raises(FormatError, match=r"decoder\.ln\.bias is truncated"):
        read_ggml(tmp_path / "m.bin").tensors["decoder.ln.bias"].raw()


def test_trailing_bytes_are_reported(tmp_path):
    write_model(tmp_path / "m.bin", tiny_hparams())
    with open(tmp_path / "m.bin", "ab") as handle:
        handle.write(b"\x00" * 5)
    assert "5 trailing bytes after the last tensor" in messages(tmp_path / "m.bin")


def test_no_tensors_is_an_error(tmp_path):
    write_model(tmp_path / "m.bin", tiny_hparams(), tensors={})
    assert "the file holds no tensors" in messages(tmp_path / "m.bin")


def test_unknown_ftype_and_bad_hparams(tmp_path):
    hp = tiny_hparams(ftype=5, n_vocab=51870, n_mels=64)
    write_model(tmp_path / "m.bin", hp, tensors={}, mel_shape=(64, 201))
    found = messages(tmp_path / "m.bin")
    assert "ftype 5 is unknown to whisper.cpp" in found
    assert "n_vocab is 51870" in found
    assert "n_mels is 64" in found


def test_mel_bank_and_vocabulary_must_fit_hparams(tmp_path):
    write_model(tmp_path / "m.bin", tiny_hparams(), mel_shape=(128, 201), vocab=[b"x"] * 51865)
    found = messages(tmp_path / "m.bin")
    assert "mel filter bank is 128x201, expected 80x201" in found
    assert "the vocabulary lists 51865 tokens but n_vocab is 51864" in found


def test_non_finite_values_are_found_on_request(tmp_path):
    values = write_model(tmp_path / "m.bin", tiny_hparams("f32"))
    tensor = read_ggml(tmp_path / "m.bin").tensors["encoder.ln_post.weight"]
    with open(tmp_path / "m.bin", "r+b") as handle:
        handle.seek(tensor.offset)
        handle.write(np.float32(np.nan).tobytes())
    assert "non-finite" not in messages(tmp_path / "m.bin")
    assert "tensor encoder.ln_post.weight holds 1 non-finite value(s)" in messages(
        tmp_path / "m.bin", check_values=True
    )
    assert values  # the file was complete before the edit


def test_not_a_ggml_file(tmp_path):
    (tmp_path / "model.gguf").write_bytes(b"GGUF" + b"\x00" * 64)
    with pytest.raises(FormatError, match="GGUF file"):
        read_ggml(tmp_path / "model.gguf")
    (tmp_path / "short.bin").write_bytes(b"lmgg\x00\x00")
    with pytest.raises(FormatError, match="file ends inside the hyper-parameters"):
        read_ggml(tmp_path / "short.bin")
    with pytest.raises(FormatError, match="no such file"):
        read_ggml(tmp_path / "absent.bin")


def test_summary_reports_sizes_and_problems(tmp_path):
    write_model(tmp_path / "m.bin", tiny_hparams("q5_0"))
    report = summarize_ggml(tmp_path / "m.bin")
    assert report["dtype"] == "q5_0" and report["hparams"]["ftype"] == 2008
    assert report["model"] == "unknown" and report["multilingual"] is False
    assert report["n_tensors"] == len(expected_tensors(tiny_hparams("q5_0")))
    assert set(report["bytes_per_type"]) == {"f32", "f16", "q5_0"}
    assert [p["severity"] for p in report["problems"]] == ["warning"]  # the 5-token vocabulary


def test_expected_tensors_of_tiny():
    """tiny: 167 tensors; the types whisper.cpp creates for a q5_0 file."""
    hp = Hparams(51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, file_ftype("q5_0"))
    specs = expected_tensors(hp)
    assert len(specs) == 167
    assert specs["encoder.conv1.weight"].ttype is GgmlType.F16
    assert specs["encoder.positional_embedding"].ttype is GgmlType.F32
    assert specs["decoder.token_embedding.weight"].ttype is GgmlType.Q5_0
    assert specs["decoder.blocks.0.cross_attn.key.weight"].ttype is GgmlType.Q5_0
    assert "decoder.blocks.0.cross_attn.key.bias" not in specs
    assert specs["encoder.blocks.3.mlp.0.weight"].shape == (1536, 384)
