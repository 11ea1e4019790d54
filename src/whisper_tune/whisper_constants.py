"""Facts about OpenAI Whisper that every part of whisper-tune shares, stated once.

Audio front end, encoder/decoder context, vocabulary layout (and the special token ids that
whisper.cpp derives from the vocabulary size alone), the tensor names several modules need,
and the layer layout of every released model. Every other module imports these; a test
(tests/core/test_whisper_constants.py) fails when one of them is defined a second time in
``src/``. The relations follow whisper.cpp's ``whisper_vocab`` and model loader (whisper.cpp
repository, ``src/whisper.cpp``).

This module imports nothing heavy (no torch, no numpy): the CLI's start-up path uses it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# --- audio front end ---------------------------------------------------------------------

#: Whisper and whisper.cpp take 16 kHz mono audio.
SAMPLE_RATE = 16_000
#: The short-time Fourier transform: 400-sample (25 ms) windows ...
N_FFT = 400
#: ... giving 201 frequency bins (what GGML files store per mel filter).
N_FFT_BINS = N_FFT // 2 + 1
#: Samples per mel frame (10 ms).
HOP_LENGTH = 160
#: The encoder's stride-2 convolution halves the frames: one position per 320 samples (20 ms).
SAMPLES_PER_POSITION = 2 * HOP_LENGTH
#: Encoder positions per second of audio.
POSITIONS_PER_SECOND = SAMPLE_RATE // SAMPLES_PER_POSITION
#: Whisper's fixed input window.
CHUNK_SECONDS = 30
N_SAMPLES = CHUNK_SECONDS * SAMPLE_RATE
#: Mel frames in the padded 30 s window (3000).
N_FRAMES = N_SAMPLES // HOP_LENGTH
#: Encoder positions of the full window (1500): whisper.cpp's largest ``audio_ctx``.
FULL_AUDIO_CTX = N_FRAMES // 2
#: Mel bins: 80 for every model before large-v3, 128 for large-v3 and large-v3-turbo.
N_MELS = 80
N_MELS_V3 = 128
MEL_BINS: tuple[int, ...] = (N_MELS, N_MELS_V3)
#: Decoder positions of every OpenAI model (``max_target_positions``).
N_TEXT_CTX = 448

# --- vocabulary --------------------------------------------------------------------------

#: GPT-2 byte-level text tokens, ``<|endoftext|>`` included (ids 0 .. 50256).
N_TEXT_TOKENS = 50_257
#: The lone space token, suppressed (with end-of-text) as a transcript's first token.
SPACE_TOKEN = 220
#: Timestamp tokens ``<|0.00|>`` ... ``<|30.00|>`` at the top of the vocabulary.
N_TIMESTAMP_TOKENS = 1501
TIMESTAMP_STEP = 0.02
#: Special tokens other than the language tokens and ``<|endoftext|>``: startoftranscript,
#: translate, transcribe, startoflm, startofprev, nospeech, notimestamps.
N_FIXED_SPECIAL_TOKENS = 7
#: ``n_vocab - LANGUAGE_COUNT_BASE - multilingual`` is the number of language tokens: the
#: relation whisper.cpp (and FUTO's apps) derive every special id from.
LANGUAGE_COUNT_BASE = N_TEXT_TOKENS + N_FIXED_SPECIAL_TOKENS + N_TIMESTAMP_TOKENS
#: The three vocabulary sizes whisper.cpp derives correct special ids for.
ENGLISH_ONLY_VOCAB = 51_864
MULTILINGUAL_VOCAB = 51_865
MULTILINGUAL_V3_VOCAB = 51_866
VOCAB_SIZES: tuple[int, ...] = (ENGLISH_ONLY_VOCAB, MULTILINGUAL_VOCAB, MULTILINGUAL_V3_VOCAB)


def is_multilingual(n_vocab: int) -> bool:
    """Multilingual vocabularies have one more text-side token (ids shift by one)."""
    return n_vocab >= MULTILINGUAL_VOCAB


def n_languages(n_vocab: int) -> int:
    """Language tokens for ``n_vocab``: 99 (English-only and multilingual), 100 (large-v3)."""
    return n_vocab - LANGUAGE_COUNT_BASE - int(is_multilingual(n_vocab))


@dataclass(frozen=True)
class SpecialIds:
    """The special token ids whisper.cpp computes from ``n_vocab`` (see :func:`special_ids`)."""

    eot: int
    sot: int
    first_language: int
    translate: int
    transcribe: int
    start_of_lm: int
    start_of_prev: int
    no_speech: int
    no_timestamps: int
    timestamp_begin: int


def special_ids(n_vocab: int) -> SpecialIds:
    """Special ids of a Whisper vocabulary of ``n_vocab`` tokens, laid out as whisper.cpp assumes:
    text tokens, startoftranscript, the languages, six task/control tokens, the timestamps."""
    shift = int(is_multilingual(n_vocab))
    sot = N_TEXT_TOKENS + shift
    translate = sot + 1 + n_languages(n_vocab)
    return SpecialIds(
        eot=sot - 1, sot=sot, first_language=sot + 1, translate=translate, transcribe=translate + 1,
        start_of_lm=translate + 2, start_of_prev=translate + 3, no_speech=translate + 4,
        no_timestamps=translate + 5, timestamp_begin=translate + 6,
    )


# --- tensor names ------------------------------------------------------------------------

#: The Hugging Face token embedding, which Whisper ties to the output projection.
TOKEN_EMBEDDING = "model.decoder.embed_tokens.weight"
#: The output projection's module (``model.proj_out``) and tensor. whisper.cpp computes
#: logits with the token embedding and has no such tensor, so it must stay tied.
OUTPUT_PROJECTION_MODULE = "proj_out"
OUTPUT_PROJECTION = f"{OUTPUT_PROJECTION_MODULE}.weight"


def untied_projection_problem(config: Mapping[str, Any], has_projection: bool, tied: bool) -> str | None:
    """Why a model's output projection cannot be dropped on the way to whisper.cpp, or None.

    ``has_projection``: the weights hold :data:`OUTPUT_PROJECTION`; ``tied``: it equals the
    token embedding (ignored without one). The one statement of the rule that ``check`` and
    ``export`` both apply.
    """
    if not has_projection:
        if config.get("tie_word_embeddings") is False:
            return (f"config.json says tie_word_embeddings is false but the weights have no {OUTPUT_PROJECTION}; "
                    "the checkpoint is incomplete")
        return None
    if tied:
        return None
    return (f"{OUTPUT_PROJECTION} differs from the token embedding; whisper.cpp computes logits with the token "
            "embedding and has no separate output projection, so this model cannot be converted faithfully. "
            f"Train with tie_word_embeddings=True (the Whisper default) or keep {OUTPUT_PROJECTION_MODULE} frozen "
            "and tied")


# --- layer layouts -----------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """The dimensions that tell released Whisper models apart."""

    name: str
    encoder_layers: int
    decoder_layers: int
    d_model: int
    attention_heads: int
    n_mels: int = N_MELS


#: Every released layout, by whisper.cpp's file stem (``ggml-<name>.bin``, ``.en`` added for
#: English-only). large-v1 and large-v2 share every dimension; the later one is listed last so
#: it wins a lookup. distil-whisper keeps the encoder and has a 2-layer decoder.
LAYOUTS: tuple[Layout, ...] = (
    Layout("tiny", 4, 4, 384, 6),
    Layout("base", 6, 6, 512, 8),
    Layout("small", 12, 12, 768, 12),
    Layout("medium", 24, 24, 1024, 16),
    Layout("large-v1", 32, 32, 1280, 20),
    Layout("large-v2", 32, 32, 1280, 20),
    Layout("large-v3", 32, 32, 1280, 20, N_MELS_V3),
    Layout("large-v3-turbo", 32, 4, 1280, 20, N_MELS_V3),
    Layout("distil-small", 12, 2, 768, 12),
    Layout("distil-medium", 24, 2, 1024, 16),
    Layout("distil-large-v2", 32, 2, 1280, 20),
    Layout("distil-large-v3", 32, 2, 1280, 20, N_MELS_V3),
)
#: whisper.cpp names the model type by encoder depth alone (anything else is "unknown").
WHISPER_CPP_MODEL_TYPES: dict[int, str] = {4: "tiny", 6: "base", 12: "small", 24: "medium", 32: "large"}


def layout_name(encoder_layers: int, decoder_layers: int, d_model: int, n_mels: int = N_MELS) -> str:
    """The released layout these dimensions belong to, else ``"custom"``.

    An exact match names the model (large-v2 for v1/v2's shared shape). Failing that, a
    model with a released encoder (depth, width, mel bins) and another decoder depth is named
    after the encoder's family, the decoder depth matching the full model's (so a fine-tune
    that pruned decoder layers keeps its family name).
    """
    dims = (encoder_layers, decoder_layers, d_model, n_mels)
    exact = [layout.name for layout in LAYOUTS
             if (layout.encoder_layers, layout.decoder_layers, layout.d_model, layout.n_mels) == dims]
    if exact:
        return exact[-1]
    family = [layout.name for layout in LAYOUTS
              if (layout.encoder_layers, layout.d_model, layout.n_mels) == (encoder_layers, d_model, n_mels)
              and layout.decoder_layers == layout.encoder_layers]
    return family[-1] if family else "custom"


#: Sizes OpenAI also released English-only (``tiny.en`` ... ``medium.en``; distil ``small.en``, ``medium.en``).
ENGLISH_ONLY_RELEASES: frozenset[str] = frozenset({"tiny", "base", "small", "medium", "distil-small", "distil-medium"})


def family_name(encoder_layers: int, decoder_layers: int, d_model: int, n_mels: int, n_vocab: int) -> str:
    """A model's family in words, from what whisper.cpp reads: e.g. ``large-v3-turbo (4 decoder
    layers), multilingual, 100 languages, 128 mel`` or ``base.en, English-only, 80 mel``.

    The layer counts and mel bins name the family (they are what runs differently; whisper.cpp
    itself names the type by encoder depth alone); a width unlike the release's is stated
    (``width 64, released 1280``), as in the small test models of every family.
    """
    dims = (encoder_layers, decoder_layers, n_mels)
    depth = [layout for layout in LAYOUTS if (layout.encoder_layers, layout.decoder_layers, layout.n_mels) == dims]
    exact = [layout for layout in depth if layout.d_model == d_model]
    candidates = exact or depth
    if not candidates:
        name = f"custom ({encoder_layers} encoder, {decoder_layers} decoder layers)"
    else:
        layout = candidates[-1]
        english = not is_multilingual(n_vocab) and layout.name in ENGLISH_ONLY_RELEASES
        # large-v1 and large-v2 share every dimension: name both.
        same = [item.name for item in candidates if item.d_model == layout.d_model]
        name = " or ".join(same) + (".en" if english else "")
        if layout.decoder_layers != layout.encoder_layers:
            name += f" ({layout.decoder_layers} decoder layers)"
        if layout.d_model != d_model:
            name += f" (width {d_model}, released {layout.d_model})"
    return f"{name}, {vocabulary_name(n_vocab)}, {n_mels} mel"


# --- tokenizer against vocabulary --------------------------------------------------------

#: The special tokens whose ids decide how a model decodes (and which whisper.cpp recomputes
#: from n_vocab): checked against the tokenizer a model ships with.
CHECKED_SPECIAL_TOKENS: tuple[tuple[str, str], ...] = (
    ("<|endoftext|>", "eot"), ("<|startoftranscript|>", "sot"), ("<|transcribe|>", "transcribe"),
    ("<|notimestamps|>", "no_timestamps"),
)


def vocabulary_name(n_vocab: int) -> str:
    """'English-only' or 'multilingual, 99 languages' / 'multilingual, 100 languages'."""
    if not is_multilingual(n_vocab):
        return "English-only"
    return f"multilingual, {n_languages(n_vocab)} languages"


def tokenizer_mismatch_problem(vocab_size: int, special_tokens: Mapping[str, int]) -> str | None:
    """Why a tokenizer (``special_tokens``: content -> id) does not fit a model whose token
    embedding has ``vocab_size`` rows, or None. A tokenizer naming none of the checked
    tokens is not judged (nothing to compare).

    whisper.cpp derives every special id from the embedding size alone, and transformers
    takes them from the tokenizer: with a tokenizer of another layout (e.g. a 99-language
    tokenizer on large-v3's 100-language embedding) the two disagree from <|translate|> on,
    and training writes labels whisper.cpp reads as other tokens.
    """
    expected = special_ids(vocab_size)
    wrong = [(token, special_tokens[token], getattr(expected, field)) for token, field in CHECKED_SPECIAL_TOKENS
             if token in special_tokens and special_tokens[token] != getattr(expected, field)]
    if not wrong:
        return None
    token, found, want = wrong[0]
    fits = [size for size in VOCAB_SIZES
            if all(special_tokens.get(t, getattr(special_ids(size), f)) == getattr(special_ids(size), f)
                   for t, f in CHECKED_SPECIAL_TOKENS)]
    belongs = f"; it is the tokenizer of a {vocabulary_name(fits[0])} model ({fits[0]} tokens)" if fits else ""
    return (f"the tokenizer does not match the model: {token} has id {found}, but a model with {vocab_size} token "
            f"embeddings ({vocabulary_name(vocab_size)}) has it at {want}{belongs}. whisper.cpp derives the special "
            "ids from the embedding size, so the model would decode with the wrong language and task tokens. Copy "
            "the tokenizer files (tokenizer.json, vocab.json, merges.txt, added_tokens.json, special_tokens_map.json, "
            "tokenizer_config.json) of the model this one was trained from into the folder")


def language_code(language: str) -> str:
    """Whisper's code of a manifest's language: ``de``, ``de-DE``, ``de_AT``, ``<|de|>``, ``German``
    all give ``de`` (names as Whisper spells them; an unknown value is returned lowercased)."""
    from transformers.models.whisper.tokenization_whisper import TO_LANGUAGE_CODE  # no torch

    value = language.strip().lower().removeprefix("<|").removesuffix("|>")
    if value in TO_LANGUAGE_CODE:
        return str(TO_LANGUAGE_CODE[value])
    return value.replace("_", "-").split("-")[0]
