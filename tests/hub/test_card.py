"""The pushed files and the model card, from a small model folder and run files on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from whisper_tune.hub.card import gather_facts, model_card
from whisper_tune.hub.push import locate_model, stage_files

TOKENIZER = ("vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
             "added_tokens.json", "normalizer.json", "preprocessor_config.json")


@pytest.fixture
def run_folder(tmp_path, embedded_path) -> Path:
    """A run folder as train writes it, around a tiny random multilingual-flagged model."""
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    run = tmp_path / "run"
    model = run / "merged"
    config = WhisperConfig(vocab_size=51864, d_model=64, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
                           decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128)
    WhisperForConditionalGeneration(config).save_pretrained(model)
    for name in TOKENIZER:
        shutil.copyfile(embedded_path / name, model / name)
    generation = json.loads((embedded_path / "generation_config.json").read_text())
    generation.update(is_multilingual=True, forced_decoder_ids=[[1, 50259], [2, 50359]])
    (model / "generation_config.json").write_text(json.dumps(generation))
    (run / "config.yaml").write_text("model: openai/whisper-tiny\ntrain_manifest: hf:me/clips@train\nmethod: lora\n"
                                     "lora: {rank: 8, alpha: 16, target_modules: [q_proj, v_proj]}\n"
                                     "learning_rate: 0.0003\nlanguage: de\ntask: transcribe\n")
    records = [{"event": "eval", "step": 0, "wer": 0.5, "wer_futo": 1.25, "cer": 0.2},
               {"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.0},
               {"event": "eval", "step": 2, "wer": 0.125, "wer_futo": 0.1875, "cer": 0.05}]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (run / "verify.json").write_text(json.dumps({"ggml_file": str(run / "tiny_q8_0.bin"), "passed": True,
                                                 "reason": "transcripts match", "short_audio_safe": True,
                                                 "short_audio_reason": "no loop at FUTO's contexts"}))
    (run / "tiny_q8_0.bin").write_bytes(b"lmgg" + bytes(60))
    (run / "notes.bin").write_bytes(b"not a model")
    return run


def test_a_run_folder_pushes_its_merged_model_with_language_and_task(run_folder, tmp_path):
    model_dir, run_dir = locate_model(run_folder)
    assert (model_dir, run_dir) == (run_folder / "merged", run_folder)
    from whisper_tune.hub.push import _ggml_files

    ggml = _ggml_files(model_dir, run_dir, [])
    assert [p.name for p in ggml] == ["tiny_q8_0.bin"]
    names = stage_files(model_dir, run_dir, tmp_path / "up", "me/tiny-de", ggml, None)
    assert {"README.md", "model.safetensors", "config.json", "generation_config.json", "tiny_q8_0.bin",
            *TOKENIZER} == set(names)
    generation = json.loads((tmp_path / "up" / "generation_config.json").read_text())
    assert (generation["language"], generation["task"]) == ("de", "transcribe")
    assert "forced_decoder_ids" not in generation
    for name in ("model.safetensors", "config.json", *TOKENIZER):
        assert (tmp_path / "up" / name).read_bytes() == (model_dir / name).read_bytes(), name


def test_the_card_reports_what_the_files_say(run_folder):
    card = model_card(gather_facts("me/tiny-de", run_folder / "merged", run_folder, [run_folder / "tiny_q8_0.bin"]))
    assert "base_model: openai/whisper-tiny" in card and "- me/clips" in card and "- de" in card
    assert "| WER, full context (30 s) | 50.0 % | 12.5 % |" in card
    assert "| WER, FUTO's context (samples/320 + 32) | 125.0 % | 18.8 % |" in card
    assert "| lora | r=8 alpha=16 on q_proj,v_proj |" in card and "| optimizer steps done | 2 |" in card
    assert "**PASS** (transcripts match)" in card and "FUTO short-audio check: safe" in card
    assert "ACFT-trained: no" in card and "whisper-cli -m tiny_q8_0.bin" in card


def test_an_acft_model_says_so(run_folder):
    config = json.loads((run_folder / "merged" / "config.json").read_text())
    config["whisper_tune"] = {"acft": True, "base": "embedded:tiny.en", "acft_steps": 40}
    (run_folder / "merged" / "config.json").write_text(json.dumps(config))
    card = model_card(gather_facts("me/x", run_folder / "merged", None, []))
    assert "ACFT-trained: yes" in card and "- acft" in card and "base_model: openai/whisper-tiny.en" in card
