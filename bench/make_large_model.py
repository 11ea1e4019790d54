"""Build a random-weight Whisper model of a released layout as an HF folder, shard by shard.

    python bench/make_large_model.py OUT_DIR [--layout large-v3] [--shard-gb 2]
                                     [--tokenizer-from HF_FOLDER]

For the export benchmark at large-v3 size (1.55 B parameters, float32: about 6.2 GB in
2 GB safetensors shards). Tensors are drawn one at a time and each shard is written as soon
as it is full, so memory stays near one shard, never the whole model. The shapes come from
transformers' own WhisperForConditionalGeneration built on the meta device (no memory), so
the folder loads in transformers and in whisper.cpp's converter like a real checkpoint.
The tokenizer is Whisper's real multilingual one for the layout's vocabulary (99 or 100
languages, built from openai-whisper's data: ``whisper_tune.models.openai_tokenizer``);
``--tokenizer-from`` copies another folder's tokenizer files instead. whisper.cpp's converter
needs vocab.json and added_tokens.json, and whisper-tune checks that the tokenizer matches
the vocabulary size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import save_file
from transformers import WhisperConfig, WhisperForConditionalGeneration

from whisper_tune.whisper_constants import LAYOUTS, MULTILINGUAL_V3_VOCAB, MULTILINGUAL_VOCAB, N_MELS_V3

TOKENIZER_FILES = ("vocab.json", "merges.txt", "added_tokens.json", "tokenizer.json", "tokenizer_config.json",
                   "special_tokens_map.json", "normalizer.json", "generation_config.json", "preprocessor_config.json")
#: Weight scale of the random matrices (about what trained Whisper weights have).
WEIGHT_STD = 0.02


def layout_config(name: str) -> WhisperConfig:
    layout = next((item for item in LAYOUTS if item.name == name), None)
    if layout is None:
        raise SystemExit(f"unknown --layout {name!r}; expected one of {', '.join(item.name for item in LAYOUTS)}")
    d = layout.d_model
    return WhisperConfig(
        vocab_size=MULTILINGUAL_V3_VOCAB if layout.n_mels == N_MELS_V3 else MULTILINGUAL_VOCAB,
        num_mel_bins=layout.n_mels, d_model=d,
        encoder_layers=layout.encoder_layers, decoder_layers=layout.decoder_layers,
        encoder_attention_heads=layout.attention_heads, decoder_attention_heads=layout.attention_heads,
        encoder_ffn_dim=4 * d, decoder_ffn_dim=4 * d, tie_word_embeddings=True,
        architectures=["WhisperForConditionalGeneration"],
    )


def tensor_shapes(config: WhisperConfig) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) of every saved tensor in state-dict order (the tied proj_out left out)."""
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    return [(name, tuple(t.shape)) for name, t in model.state_dict().items() if name != "proj_out.weight"]


def random_tensor(rng: np.random.Generator, name: str, shape: tuple[int, ...]) -> np.ndarray:
    if name.endswith("layer_norm.weight"):
        return np.ones(shape, dtype=np.float32)
    values = rng.standard_normal(shape, dtype=np.float32)
    values *= np.float32(WEIGHT_STD)
    return values


def write_shards(out: Path, shapes: list[tuple[str, tuple[int, ...]]], shard_bytes: int, seed: int) -> int:
    """Write the tensors in shards of at most ``shard_bytes``; returns the parameter count."""
    rng = np.random.default_rng(seed)
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shape in shapes:
        nbytes = 4 * int(np.prod(shape))
        if groups[-1] and size + nbytes > shard_bytes:
            groups.append([])
            size = 0
        groups[-1].append((name, shape))
        size += nbytes
    weight_map: dict[str, str] = {}
    total = 0
    for index, group in enumerate(groups, 1):
        file = f"model-{index:05d}-of-{len(groups):05d}.safetensors"
        shard = {name: random_tensor(rng, name, shape) for name, shape in group}
        save_file(shard, str(out / file), metadata={"format": "pt"})
        total += sum(value.size for value in shard.values())
        weight_map.update(dict.fromkeys(shard, file))
        del shard
        print(f"wrote {file} ({len(group)} tensors)", file=sys.stderr, flush=True)
    index_data = {"metadata": {"total_size": 4 * total}, "weight_map": weight_map}
    (out / "model.safetensors.index.json").write_text(json.dumps(index_data, indent=2))
    return total


def write_real_tokenizer(out: Path, config: WhisperConfig) -> None:
    """Whisper's multilingual tokenizer for ``config.vocab_size``, and the generation config
    derived from it (the template for the byte-level settings is the embedded tiny.en's)."""
    from whisper_tune.fileio import atomic_write_json
    from whisper_tune.models import resolve_model
    from whisper_tune.models.hf_folder import generation_config_dict, write_tokenizer_files
    from whisper_tune.models.openai_tokenizer import multilingual_tokenizer_json

    template = json.loads((resolve_model("embedded:tiny.en").path / "tokenizer.json").read_text(encoding="utf-8"))
    tokenizer_json = multilingual_tokenizer_json(config.vocab_size, template)
    write_tokenizer_files(out, tokenizer_json, config.vocab_size)
    atomic_write_json(out / "generation_config.json", generation_config_dict(config.to_dict(), tokenizer_json))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="folder to create (outside the repository: it is gigabytes)")
    parser.add_argument("--layout", default="large-v3", help="a released layout name (default large-v3)")
    parser.add_argument("--shard-gb", type=float, default=2.0, help="shard size in GB (default 2)")
    parser.add_argument("--tokenizer-from", type=Path,
                        help="copy this folder's tokenizer files (default: Whisper's real multilingual tokenizer)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    started = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    config = layout_config(args.layout)
    config.save_pretrained(args.out)
    count = write_shards(args.out, tensor_shapes(config), int(args.shard_gb * 1e9), args.seed)
    if args.tokenizer_from:
        for name in TOKENIZER_FILES:
            if (args.tokenizer_from / name).is_file():
                shutil.copy(args.tokenizer_from / name, args.out / name)
    else:
        write_real_tokenizer(args.out, config)
    print(f"{args.out}: {args.layout}, {count / 1e9:.3f} B parameters, float32, "
          f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
