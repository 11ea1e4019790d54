"""export_ggml: byte-identical to whisper.cpp's tools, loads in whisper.cpp, refuses what it would misread."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_tiny_whisper_folder
from tests.export.whispercpp_subprocess import transcribe_in_subprocess
from whisper_tune.errors import ExportError, ModelSourceError
from whisper_tune.export.exporter import export_ggml
from whisper_tune.formats.ggml import F32_CPU_WARNING, GgmlType, read_ggml, validate_ggml

REFERENCE = json.loads((Path(__file__).parents[1] / "formats" / "data" / "ggml_reference.json").read_text())
DTYPES = ("f32", "f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0")
#: jfk.wav through whisper.cpp greedy: f16/q8_0 must give the sentence exactly (normalized).
MAX_WER = {"f16": 0.0, "q8_0": 0.0, "q5_1": 0.1, "q5_0": 0.1, "q4_1": 0.1, "q4_0": 0.1}


@pytest.fixture(scope="session")
def tiny_en_exports(tmp_path_factory, embedded_ggml) -> dict[str, Path]:
    """embedded:tiny.en exported to every dtype (f16/q8_0 shared with the suite's fixture)."""
    out = tmp_path_factory.mktemp("tiny-en-ggml")
    others = {dtype: export_ggml("embedded:tiny.en", dtype, out / f"tiny.en-{dtype}.bin").path
              for dtype in DTYPES if dtype not in embedded_ggml}
    return {**embedded_ggml, **others}


def _normalize(text: str) -> list[str]:
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def _wer(reference: str, hypothesis: str) -> float:
    ref, hyp = _normalize(reference), _normalize(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return row[-1] / max(len(ref), 1)


def _tensor_table(path: Path) -> dict[str, str]:
    ggml = read_ggml(path)
    return {n: f"{t.type_name} {'x'.join(map(str, t.shape))} {t.sha256()[:32]}" for n, t in ggml.tensors.items()}


@pytest.mark.parametrize("dtype", ["f16", "q8_0", "q5_1", "q5_0", "q4_1", "q4_0"])
def test_identical_to_whisper_cpp_converter_and_quantizer(tiny_en_exports, dtype):
    """f16 = convert-h5-to-ggml.py, q* = whisper-quantize of that file (digests from v1.8.5)."""
    expected = REFERENCE["tiny_en"][dtype]
    path = tiny_en_exports[dtype]
    assert _tensor_table(path) == expected["tensors"]
    assert path.stat().st_size == expected["size_bytes"]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected["file_sha256"]  # header, order and all


def test_sidecar_records_the_export(tiny_en_exports):
    path = tiny_en_exports["q5_0"]
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert sidecar["size_bytes"] == path.stat().st_size
    assert sidecar["dtype"] == "q5_0" and sidecar["hparams"]["ftype"] == 2008
    assert sidecar["n_tensors"] == 167 and sidecar["adapter"] is None
    assert "embedded:tiny.en" in sidecar["source_model"]
    assert sidecar["bytes_per_type"] == {"f32": 3179520, "f16": 1069056, "q5_0": 25046208}
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", sidecar["whisper_tune_version"])


def test_f32_is_not_rounded_through_f16(tiny_random_dir, tmp_path):
    from safetensors.numpy import load_file

    result = export_ggml(tiny_random_dir, "f32", tmp_path / "m.bin")
    source = load_file(str(tiny_random_dir / "model.safetensors"))["model.decoder.embed_tokens.weight"]
    stored = read_ggml(result.path).tensors["decoder.token_embedding.weight"]
    assert stored.ttype == GgmlType.F32
    assert np.array_equal(stored.to_float32(), source)
    assert not np.array_equal(source.astype(np.float16).astype(np.float32), source)  # f16 would have lost bits
    assert [p.message for p in validate_ggml(result.path) if p.severity == "error"] == []


@pytest.mark.parametrize("dtype", list(MAX_WER))
def test_whisper_cpp_transcribes_jfk(tiny_en_exports, jfk_wav, jfk_text, dtype):
    run = transcribe_in_subprocess(tiny_en_exports[dtype], jfk_wav)
    assert run.loaded and run.text is not None, run.log[-2000:]
    assert _wer(jfk_text, run.text) <= MAX_WER[dtype], run.text


def test_whisper_cpp_f32_loads_but_its_cpu_encoder_aborts(tiny_en_exports, jfk_wav):
    """whisper.cpp 1.8.5's CPU conv (im2col) requires f16 kernels; an f32 file must keep them f32.

    The loader accepts our f32 file (tensor sizes and types are right), then the first encode
    aborts, exactly as with convert-h5-to-ggml.py's own f32 output. If this starts passing
    through, whisper.cpp fixed it: update F32_CPU_WARNING and this test.
    """
    run = transcribe_in_subprocess(tiny_en_exports["f32"], jfk_wav)
    assert "whisper_model_load: model size" in run.log and "failed to load" not in run.log
    assert run.returncode != 0 and "GGML_ASSERT(src0->type == GGML_TYPE_F16) failed" in run.log
    assert F32_CPU_WARNING in [p.message for p in validate_ggml(tiny_en_exports["f32"])]


@pytest.mark.parametrize(
    ("vocab_size", "n_mels", "dtype", "n_langs"), [(51865, 80, "q8_0", 99), (51866, 128, "f16", 100)]
)
def test_multilingual_and_large_v3_shapes_load_in_whisper_cpp(tmp_path, jfk_wav, vocab_size, n_mels, dtype, n_langs):
    model = make_tiny_whisper_folder(tmp_path / "model", vocab_size=vocab_size, num_mel_bins=n_mels, layers=1)
    result = export_ggml(model, dtype, tmp_path / "m.bin")
    assert [p for p in validate_ggml(result.path) if p.severity == "error"] == []
    run = transcribe_in_subprocess(result.path, jfk_wav)
    assert run.loaded and run.text is not None, run.log[-2000:]
    assert f"n_langs       = {n_langs}" in run.log and f"n_mels        = {n_mels}" in run.log


def test_adapter_is_merged_first(tiny_random_dir, tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import WhisperForConditionalGeneration

    from whisper_tune.merge import merge_adapter

    torch = pytest.importorskip("torch")
    base = WhisperForConditionalGeneration.from_pretrained(tiny_random_dir, dtype=torch.float32)
    peft_model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")

    as_model = export_ggml(tmp_path / "adapter", "q8_0", tmp_path / "a.bin")
    as_option = export_ggml(tiny_random_dir, "q8_0", tmp_path / "b.bin", adapter=tmp_path / "adapter")
    merged = export_ggml(merge_adapter(tmp_path / "adapter", tmp_path / "merged"), "q8_0", tmp_path / "c.bin")
    plain = export_ggml(tiny_random_dir, "q8_0", tmp_path / "d.bin")
    assert _tensor_table(as_model.path) == _tensor_table(as_option.path) == _tensor_table(merged.path)
    assert _tensor_table(merged.path) != _tensor_table(plain.path)  # the adapter changed something
    assert json.loads(as_model.sidecar.read_text())["adapter"] == str(tmp_path / "adapter")


def test_whisper_cpp_dir_and_futo_names(tmp_path, embedded_path):
    (tmp_path / "whisper.cpp").mkdir()
    result = export_ggml("embedded:tiny.en", "q5_0", whisper_cpp_dir=tmp_path / "whisper.cpp")
    assert result.path == tmp_path / "whisper.cpp" / "models" / "ggml-tiny.en-q5_0.bin"
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.size_bytes == result.path.stat().st_size and result.n_tensors == 167
    assert result.sidecar == result.path.with_name("ggml-tiny.en-q5_0.bin.json") and result.sidecar.is_file()
    named = export_ggml("embedded:tiny.en", "f16", whisper_cpp_dir=tmp_path / "whisper.cpp", name="mine")
    assert named.path.name == "ggml-mine.bin"
    futo = export_ggml("embedded:tiny.en", "q8_0", tmp_path, futo=True)
    assert futo.path == tmp_path / "tiny_en_q8_0.bin" and futo.path.is_file()


def test_n_text_ctx_comes_from_max_target_positions_not_max_length(tiny_random_dir, tmp_path):
    """A fine-tune's max_length=225 made whisper.cpp's converter write a wrong n_text_ctx."""
    model = _edited_copy(tiny_random_dir, tmp_path / "model", {"max_length": 225})
    result = export_ggml(model, "f16", tmp_path / "m.bin")
    assert result.hparams.n_text_ctx == 448
    assert read_ggml(result.path).tensors["decoder.positional_embedding"].shape == (448, 64)


def test_sharded_weights_export_like_a_single_file(tiny_random_dir, tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import WhisperForConditionalGeneration

    model = _edited_copy(tiny_random_dir, tmp_path / "model")
    (model / "model.safetensors").unlink()
    WhisperForConditionalGeneration.from_pretrained(tiny_random_dir, dtype=torch.float32).save_pretrained(
        model, max_shard_size="2MB")
    assert (model / "model.safetensors.index.json").is_file() and not (model / "model.safetensors").exists()
    sharded = export_ggml(model, "q8_0", tmp_path / "sharded.bin")
    single = export_ggml(tiny_random_dir, "q8_0", tmp_path / "single.bin")
    assert sharded.sha256 == single.sha256


def test_a_broken_shard_index_is_refused_naming_it(tiny_random_dir, tmp_path):
    model = _edited_copy(tiny_random_dir, tmp_path / "model")
    (model / "model.safetensors").unlink()
    (model / "model.safetensors.index.json").write_text(
        '{"weight_map": {"model.encoder.conv1.weight": "model-00002.safetensors"}}', encoding="utf-8")
    _assert_refused(model, "f16", tmp_path / "out", r"index.json: shard model-00002\.safetensors is missing")


def test_bfloat16_weights_export(tiny_random_dir, tmp_path):
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file, save_file

    model = _edited_copy(tiny_random_dir, tmp_path / "model")
    tensors = {k: v.to(torch.bfloat16) for k, v in load_file(str(model / "model.safetensors")).items()}
    save_file(tensors, str(model / "model.safetensors"), metadata={"format": "pt"})
    result = export_ggml(model, "f32", tmp_path / "m.bin")
    stored = read_ggml(result.path).tensors["encoder.blocks.0.mlp.0.weight"].to_float32()
    assert np.array_equal(stored, tensors["model.encoder.layers.0.fc1.weight"].float().numpy())


# --- refusals, each with a real model folder on disk -------------------------------------


def _edited_copy(source: Path, target: Path, config_changes=None, tensor_edit=None) -> Path:
    from safetensors.numpy import load_file, save_file

    shutil.copytree(source, target)
    if config_changes:
        config = json.loads((target / "config.json").read_text())
        config.update(config_changes)
        (target / "config.json").write_text(json.dumps(config))
    if tensor_edit:
        tensors = load_file(str(target / "model.safetensors"))
        tensor_edit(tensors)
        save_file(tensors, str(target / "model.safetensors"), metadata={"format": "pt"})
    return target


def _assert_refused(model: Path, dtype: str, out_dir: Path, pattern: str) -> None:
    out_dir.mkdir(exist_ok=True)
    with pytest.raises(ExportError, match=pattern):
        export_ggml(model, dtype, out_dir / "m.bin")
    assert list(out_dir.iterdir()) == []  # neither the file nor a temporary left behind


def test_refuses_a_vocabulary_size_whisper_cpp_would_misread(tiny_random_dir, tmp_path):
    model = _edited_copy(tiny_random_dir, tmp_path / "model", {"vocab_size": 51870})
    _assert_refused(model, "f16", tmp_path / "out", "vocab_size is 51870; whisper.cpp only knows 51864, 51865, 51866")


def test_refuses_other_mel_bins(tiny_random_dir, tmp_path):
    model = _edited_copy(tiny_random_dir, tmp_path / "model", {"num_mel_bins": 64})
    _assert_refused(model, "f16", tmp_path / "out", "num_mel_bins is 64")


def test_refuses_an_untied_output_projection(tiny_random_dir, tmp_path):
    def untie(tensors):
        tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"] + np.float32(0.01)

    model = _edited_copy(tiny_random_dir, tmp_path / "model", {"tie_word_embeddings": False}, untie)
    _assert_refused(model, "f16", tmp_path / "out", "proj_out.weight differs from the token embedding")


def test_accepts_an_output_projection_equal_to_the_embedding(tiny_random_dir, tmp_path):
    def tie(tensors):
        tensors["proj_out.weight"] = tensors["model.decoder.embed_tokens.weight"].copy()

    model = _edited_copy(tiny_random_dir, tmp_path / "model", tensor_edit=tie)
    assert export_ggml(model, "f16", tmp_path / "m.bin").n_tensors == 2 * 15 + 2 * 24 + 11


def test_refuses_rows_not_divisible_by_32_for_quantized_types(tmp_path):
    model = make_tiny_whisper_folder(tmp_path / "model", d_model=48, heads=2, layers=1)
    _assert_refused(
        model, "q4_0", tmp_path / "out", "rows of 48 values, not a multiple of 32, so it cannot be quantized to q4_0"
    )
    assert export_ggml(model, "f16", tmp_path / "f16.bin").path.is_file()  # f16 has no such limit


def test_refuses_non_finite_weights(tiny_random_dir, tmp_path):
    def poison(tensors):
        tensors["model.decoder.layers.1.fc2.weight"][3, 5] = np.nan

    model = _edited_copy(tiny_random_dir, tmp_path / "model", tensor_edit=poison)
    _assert_refused(model, "q8_0", tmp_path / "out", "layers.1.fc2.weight holds NaN or infinite values")


def test_refuses_values_beyond_float16_in_an_f16_file(tiny_random_dir, tmp_path):
    def blow_up(tensors):
        tensors["model.encoder.layers.0.fc1.weight"][0, 0] = 1e6

    model = _edited_copy(tiny_random_dir, tmp_path / "model", tensor_edit=blow_up)
    _assert_refused(model, "f16", tmp_path / "out", "beyond float16's range")


def test_refuses_tensors_whisper_cpp_does_not_have(tiny_random_dir, tmp_path):
    def add_bias(tensors):
        tensors["model.encoder.layers.0.self_attn.k_proj.bias"] = np.zeros(64, dtype=np.float32)

    model = _edited_copy(tiny_random_dir, tmp_path / "model", tensor_edit=add_bias)
    _assert_refused(model, "f16", tmp_path / "out", "does not exist in whisper.cpp's Whisper")


def test_refuses_an_unconverted_pissa_adapter(tiny_random_dir, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({
        "peft_type": "LORA", "base_model_name_or_path": str(tiny_random_dir), "init_lora_weights": "pissa_niter_4",
        "r": 4, "lora_alpha": 4, "target_modules": ["q_proj"],
    }))
    with pytest.raises(ModelSourceError, match="only valid on the residual base"):
        export_ggml(adapter, "f16", tmp_path / "m.bin")


def test_export_writes_past_the_page_cache_and_syncs_unless_told_not_to(tmp_path, fsynced_sizes, direct_writes):
    """The GGML data is written with O_DIRECT (this ext4 disk has it) and the file fsynced;
    durable=False skips that fsync (only the small sidecar is synced). Same bytes either
    way. os.fsync and os.pwrite are wrapped, not replaced."""
    synced = fsynced_sizes
    durable = export_ggml("embedded:tiny.en", "f16", tmp_path / "durable.bin")
    assert durable.size_bytes in synced
    assert direct_writes and all(direct_writes)
    synced.clear()
    fast = export_ggml("embedded:tiny.en", "f16", tmp_path / "fast.bin", durable=False)
    assert synced == [fast.sidecar.stat().st_size]
    assert fast.path.read_bytes() == durable.path.read_bytes()
    assert fast.sha256 == durable.sha256 == hashlib.sha256(fast.path.read_bytes()).hexdigest()
    assert sorted(os.listdir(tmp_path)) == ["durable.bin", "durable.bin.json", "fast.bin", "fast.bin.json"]
