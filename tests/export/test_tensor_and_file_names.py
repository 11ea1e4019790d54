"""export/tensor_names (the HF -> GGML rename table) and export/file_names (whisper.cpp and FUTO file names)."""

from __future__ import annotations

import pytest

from whisper_tune.errors import ExportError
from whisper_tune.export.file_names import futo_name, identify, whisper_cpp_name
from whisper_tune.export.tensor_names import ggml_name


@pytest.mark.parametrize(("hf", "ggml"), [
    ("model.encoder.conv1.bias", "encoder.conv1.bias"),
    ("model.encoder.embed_positions.weight", "encoder.positional_embedding"),
    ("model.encoder.layer_norm.weight", "encoder.ln_post.weight"),
    ("model.encoder.layers.3.self_attn.k_proj.weight", "encoder.blocks.3.attn.key.weight"),
    ("model.encoder.layers.0.fc2.bias", "encoder.blocks.0.mlp.2.bias"),
    ("model.decoder.layers.1.encoder_attn.v_proj.bias", "decoder.blocks.1.cross_attn.value.bias"),
    ("model.decoder.layers.1.encoder_attn_layer_norm.weight", "decoder.blocks.1.cross_attn_ln.weight"),
    ("model.decoder.layers.0.final_layer_norm.bias", "decoder.blocks.0.mlp_ln.bias"),
    ("model.decoder.embed_tokens.weight", "decoder.token_embedding.weight"),
    ("model.decoder.layer_norm.bias", "decoder.ln.bias"),
    ("proj_out.weight", None),
])
def test_rename_table(hf, ggml):
    assert ggml_name(hf) == ggml


@pytest.mark.parametrize("hf", ["model.encoder.layers.0.encoder_attn.q_proj.weight", "model.decoder.extra.weight",
                                "model.encoder.layers.0.self_attn.q_proj.lora_A.weight"])
def test_unknown_keys_are_errors(hf):
    with pytest.raises(ExportError, match=r"no whisper\.cpp equivalent"):
        ggml_name(hf)


def _config(layers, width, vocab=51864, mels=80, decoder_layers=None, marker=None):
    config = {"encoder_layers": layers, "decoder_layers": decoder_layers or layers, "d_model": width,
              "vocab_size": vocab, "num_mel_bins": mels}
    if marker is not None:
        config["whisper_tune"] = marker
    return config


@pytest.mark.parametrize(("config", "stem"), [
    (_config(4, 384), "tiny.en"),
    (_config(6, 512, vocab=51865), "base"),
    (_config(12, 768), "small.en"),
    (_config(24, 1024, vocab=51865), "medium"),
    (_config(32, 1280, vocab=51865), "large-v2"),
    (_config(32, 1280, vocab=51866, mels=128), "large-v3"),
    (_config(32, 1280, vocab=51866, mels=128, decoder_layers=4), "large-v3-turbo"),
    (_config(32, 1280, vocab=51866, mels=128, decoder_layers=2), "distil-large-v3"),
    (_config(12, 768, decoder_layers=2), "distil-small.en"),
    (_config(2, 64), "custom.en"),
])
def test_size_from_dimensions(config, stem):
    assert identify(config).whisper_cpp_stem == stem


def test_file_names():
    assert whisper_cpp_name("tiny.en", "f16") == "ggml-tiny.en.bin"
    assert whisper_cpp_name("base", "q5_0") == "ggml-base-q5_0.bin"
    assert futo_name(identify(_config(4, 384, marker={"acft": True})), "q8_0") == "tiny_en_acft_q8_0.bin"
    assert futo_name(identify(_config(12, 768, vocab=51865)), "q8_0") == "small_q8_0.bin"
    with pytest.raises(ExportError, match="FUTO Voice Input accepts only tiny, base, small"):
        futo_name(identify(_config(24, 1024)), "q8_0")
