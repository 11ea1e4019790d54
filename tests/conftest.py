"""Shared fixtures. Expensive ones are session-scoped: the whole suite must stay fast."""

from __future__ import annotations

import fcntl
import functools
import json
import os
from pathlib import Path

import pytest

from whisper_tune.whisper_constants import ENGLISH_ONLY_VOCAB, MULTILINGUAL_V3_VOCAB, MULTILINGUAL_VOCAB

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()

# Keep CPU tests predictable on the 2-core CI machine.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Rebuilt models and feature caches of the tests stay inside the checkout (git-ignored),
# never in the user's own cache; the folder persists between runs, so a rebuild happens once.
os.environ.setdefault("WHISPER_TUNE_CACHE", str(REPO_ROOT / ".cache" / "whisper-tune-tests"))


def _require_shared(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"needs {path} (../shared beside the checkout; CI has it, a user's clone does not)")
    return path


@pytest.fixture
def fsynced_sizes(monkeypatch) -> list[int]:
    """The size of every file fsynced during the test, in order. os.fsync (the OS, not our
    code) is wrapped and still syncs."""
    sizes: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        sizes.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    return sizes


@pytest.fixture
def direct_writes(monkeypatch) -> list[bool]:
    """For every os.pwrite (the OS call, wrapped, still writing): whether O_DIRECT was set."""
    seen: list[bool] = []
    real_pwrite = os.pwrite

    def recording_pwrite(fd, data, offset):
        seen.append(bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT))
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", recording_pwrite)
    return seen


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _require_shared(SHARED_DIR)


@pytest.fixture(scope="session")
def jfk_wav(shared_dir: Path) -> Path:
    return _require_shared(shared_dir / "audio" / "jfk.wav")


@pytest.fixture(scope="session")
def jfk_text(shared_dir: Path) -> str:
    return _require_shared(shared_dir / "audio" / "jfk.txt").read_text(encoding="utf-8").strip()


@pytest.fixture(scope="session")
def real_clips_dir(shared_dir: Path) -> Path:
    return _require_shared(shared_dir / "audio" / "real")


@pytest.fixture(scope="session")
def embedded_path() -> Path:
    """The embedded tiny.en rebuilt as an HF folder (cached across runs)."""
    from whisper_tune.models import resolve_model

    return resolve_model("embedded:tiny.en").path


@pytest.fixture(scope="session")
def embedded_model(embedded_path):
    """tiny.en in float32, eval mode. Do not modify it in tests: it is shared."""
    from whisper_tune.models import load_model

    return load_model("embedded:tiny.en")


@pytest.fixture(scope="session")
def embedded_processor(embedded_path):
    from whisper_tune.models import load_processor

    return load_processor("embedded:tiny.en")


@pytest.fixture(scope="session")
def jfk_audio(jfk_wav):
    from whisper_tune.audio import load_audio

    return load_audio(jfk_wav)


@pytest.fixture(scope="session")
def whisper_cli_path() -> Path:
    """A whisper-cli executable: on PATH, else built once per machine (minutes; skips when it cannot)."""
    from tests.whisper_cli_build import find_or_build_whisper_cli

    return find_or_build_whisper_cli()


@functools.cache
def multilingual_tokenizer_json(vocab_size: int) -> dict:
    """Whisper's real multilingual tokenizer (tokenizer.json) for 51865 or 51866 tokens, built
    from openai-whisper's multilingual.tiktoken (installed by the Makefile, data only)."""
    from whisper_tune.errors import ModelSourceError
    from whisper_tune.models import resolve_model
    from whisper_tune.models.openai_tokenizer import multilingual_tokenizer_json as build

    template = json.loads((resolve_model("embedded:tiny.en").path / "tokenizer.json").read_text(encoding="utf-8"))
    try:
        return build(vocab_size, template)
    except ModelSourceError as exc:
        pytest.skip(f"needs a multilingual tokenizer: {exc}")


def make_tiny_whisper_folder(
    folder: Path,
    *,
    vocab_size: int = 51864,
    num_mel_bins: int = 80,
    d_model: int = 64,
    layers: int = 2,
    decoder_layers: int | None = None,
    heads: int = 2,
    seed: int = 0,
) -> Path:
    """A random-weight Whisper HF folder with a real tokenizer (for shape/format tests).

    English-only: tiny.en's tokenizer (embedded). Multilingual vocabulary sizes: Whisper's
    multilingual tokenizer with 99 or 100 languages (:func:`multilingual_tokenizer_json`),
    and the generation config written from it by the same code as for real models.
    ``decoder_layers`` defaults to ``layers`` (distil-whisper and large-v3-turbo differ).
    """
    import shutil

    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    from whisper_tune.models import resolve_model
    from whisper_tune.models.hf_folder import generation_config_dict, write_tokenizer_files
    from whisper_tune.whisper_constants import is_multilingual, special_ids

    embedded = resolve_model("embedded:tiny.en").path
    ids = special_ids(vocab_size)
    torch.manual_seed(seed)
    config = WhisperConfig(
        vocab_size=vocab_size, num_mel_bins=num_mel_bins, d_model=d_model,
        encoder_layers=layers, decoder_layers=layers if decoder_layers is None else decoder_layers,
        encoder_attention_heads=heads, decoder_attention_heads=heads,
        encoder_ffn_dim=4 * d_model, decoder_ffn_dim=4 * d_model,
        max_source_positions=1500, max_target_positions=448,
        bos_token_id=ids.sot, eos_token_id=ids.eot, pad_token_id=ids.eot, decoder_start_token_id=ids.sot,
        tie_word_embeddings=True,
    )
    model = WhisperForConditionalGeneration(config)
    model.save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=num_mel_bins).save_pretrained(folder)
    if is_multilingual(vocab_size):
        tokenizer_json = multilingual_tokenizer_json(vocab_size)
        write_tokenizer_files(folder, tokenizer_json, vocab_size)
        gen = generation_config_dict(config.to_dict(), tokenizer_json)
        (folder / "generation_config.json").write_text(json.dumps(gen, indent=2))
        return folder
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "added_tokens.json", "normalizer.json",
                 "special_tokens_map.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy(embedded / name, folder / name)
    return folder


# --- every released Whisper layout, built small --------------------------------------------

#: (release name, layout name, vocabulary size): every model OpenAI and distil-whisper released.
RELEASES: list[tuple[str, str, int]] = [
    *[(f"{size}.en", size, ENGLISH_ONLY_VOCAB) for size in ("tiny", "base", "small", "medium")],
    *[(size, size, MULTILINGUAL_VOCAB) for size in ("tiny", "base", "small", "medium", "large-v1", "large-v2")],
    ("large-v3", "large-v3", MULTILINGUAL_V3_VOCAB),
    ("large-v3-turbo", "large-v3-turbo", MULTILINGUAL_V3_VOCAB),
    ("distil-small.en", "distil-small", ENGLISH_ONLY_VOCAB),
    ("distil-medium.en", "distil-medium", ENGLISH_ONLY_VOCAB),
    ("distil-large-v2", "distil-large-v2", MULTILINGUAL_VOCAB),
    ("distil-large-v3", "distil-large-v3", MULTILINGUAL_V3_VOCAB),
]
RELEASE_IDS = [release for release, _, _ in RELEASES]
#: What inspect (and verify's report) call each, before the width note; large-v1 and -v2
#: cannot be told apart.
FAMILY_NAMES = {"large-v1": "large-v1 or large-v2", "large-v2": "large-v1 or large-v2",
                "large-v3-turbo": "large-v3-turbo (4 decoder layers)",
                "distil-small.en": "distil-small.en (2 decoder layers)",
                "distil-medium.en": "distil-medium.en (2 decoder layers)",
                "distil-large-v2": "distil-large-v2 (2 decoder layers)",
                "distil-large-v3": "distil-large-v3 (2 decoder layers)"}
#: The dtypes every family is exported to.
FAMILY_DTYPES = ("f16", "q8_0", "q5_0")


def release_layout(layout_name: str):
    from whisper_tune.whisper_constants import LAYOUTS

    return next(item for item in LAYOUTS if item.name == layout_name)


def small_width(heads: int) -> int:
    """The smallest width the true head count divides that is a whole number of quantized
    rows (32 values), so every family also exports to q8_0 and q5_0."""
    import math

    from whisper_tune.formats.ggml_quants import QK

    return math.lcm(heads, QK)


def family_description(release: str, layout_name: str, vocab: int) -> str:
    """How inspect and verify name a small model of ``release`` (e.g. ``base.en (width 32,
    released 512), English-only, 80 mel``)."""
    from whisper_tune.whisper_constants import vocabulary_name

    layout = release_layout(layout_name)
    return (f"{FAMILY_NAMES.get(release, release)} (width {small_width(layout.attention_heads)}, released "
            f"{layout.d_model}), {vocabulary_name(vocab)}, {layout.n_mels} mel")


@pytest.fixture(scope="session")
def family_exports(tmp_path_factory) -> dict[str, dict[str, Path]]:
    """Every release built small (random weights, true layer counts, heads, vocabulary and mel
    bins; see :func:`small_width`) and exported to every dtype of FAMILY_DTYPES; built once
    per session for the export and verify tests (read-only in tests). ``[release]["model"]``
    is the HF folder, ``[release][dtype]`` the GGML file."""
    from whisper_tune.export.exporter import export_ggml

    root = tmp_path_factory.mktemp("families")
    exports: dict[str, dict[str, Path]] = {}
    for release, layout_name, vocab in RELEASES:
        layout = release_layout(layout_name)
        model = make_tiny_whisper_folder(
            root / release, vocab_size=vocab, num_mel_bins=layout.n_mels, d_model=small_width(layout.attention_heads),
            layers=layout.encoder_layers, decoder_layers=layout.decoder_layers, heads=layout.attention_heads)
        exports[release] = {"model": model}
        for dtype in FAMILY_DTYPES:
            exports[release][dtype] = export_ggml(model, dtype, root / f"{release}-{dtype}.bin").path
    return exports


@pytest.fixture(scope="session")
def tiny_random_dir(tmp_path_factory) -> Path:
    """A random-weight, English-only, tiny-dimension Whisper HF folder (read-only in tests)."""
    return make_tiny_whisper_folder(tmp_path_factory.mktemp("tiny-random") / "model")


@pytest.fixture(scope="session")
def embedded_ggml(tmp_path_factory, embedded_path) -> dict[str, Path]:
    """embedded:tiny.en exported once to f16 and q8_0 GGML files (read-only in tests)."""
    from whisper_tune.export.exporter import export_ggml

    out = tmp_path_factory.mktemp("embedded-ggml")
    return {dtype: export_ggml("embedded:tiny.en", dtype, out / f"ggml-tiny.en-{dtype}.bin").path
            for dtype in ("f16", "q8_0")}


def rewrite_ggml(source: Path, target: Path, edits: dict, vocab_edits: dict[int, bytes] | None = None) -> Path:
    """Copy a GGML file through the GGML module's reader and writer, changing some tensors.

    ``edits`` maps a tensor name to a function of its float32 values (numpy order) returning
    the new values; every tensor keeps its type. ``vocab_edits`` replaces tokens' bytes by
    id. For damaged-file and decoding tests.
    """
    from whisper_tune.formats.ggml import GgmlType, GgmlWriter, read_ggml

    ggml = read_ggml(source)
    vocab = [(vocab_edits or {}).get(token_id, token) for token_id, token in enumerate(ggml.vocab)]
    with open(target, "wb") as handle:
        writer = GgmlWriter(handle)
        writer.write_header(ggml.hparams, ggml.mel_filters, vocab)
        for name in ggml.tensor_order:
            tensor = ggml.tensors[name]
            values = tensor.to_float32()
            if name in edits:
                values = edits[name](values.copy())
            writer.write_tensor(name, GgmlType(tensor.ttype), values)
    return target
