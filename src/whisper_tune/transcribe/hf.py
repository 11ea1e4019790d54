"""Decoding with a Hugging Face Whisper model, on the full or a shortened encoder context.

Greedy decoding is our own loop over the decoder with a KV cache: it is several times
faster than ``generate()`` for short dictation on a CPU, decodes a batch with one encoder
pass, and applies exactly the token rules whisper.cpp uses without timestamps (special and
timestamp tokens suppressed, a blank or end-of-text first token suppressed, the model's
non-speech suppress list applied). Beam search, and decoding with whisper.cpp's thresholds,
is whisper.cpp's own algorithm (:mod:`whisper_tune.transcribe.beam`), not ``generate()``, so
the tokens compare beam for beam. An initial prompt is tokenized as whisper.cpp tokenizes it
(:mod:`whisper_tune.whispercpp.prompt`) and placed after ``<|startofprev|>``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch

from whisper_tune.audio import load_audio
from whisper_tune.devices import pick_device
from whisper_tune.errors import ModelSourceError
from whisper_tune.export.vocab import tokens_bytes
from whisper_tune.models import load_model, load_processor
from whisper_tune.models.short_encoder import clamp_audio_ctx, encode_short
from whisper_tune.transcribe.beam import BeamSettings, beam_search
from whisper_tune.transcribe.types import DecodeOptions, Transcript
from whisper_tune.whisper_constants import FULL_AUDIO_CTX, SAMPLE_RATE
from whisper_tune.whispercpp.prompt import MAX_PROMPT_TOKENS, tokenize

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpecialTokens:
    """Token ids the decoding rules need, read from the model's generation config."""

    eot: int
    sot: int
    no_timestamps: int
    suppress: tuple[int, ...]
    begin_suppress: tuple[int, ...]
    lang_to_id: dict[str, int]
    task_to_id: dict[str, int]
    multilingual: bool

    @classmethod
    def from_model(cls, model) -> SpecialTokens:
        gen = model.generation_config
        eot = int(gen.eos_token_id if not isinstance(gen.eos_token_id, list) else gen.eos_token_id[0])
        lang_to_id = dict(getattr(gen, "lang_to_id", None) or {})
        task_to_id = dict(getattr(gen, "task_to_id", None) or {})
        no_timestamps = getattr(gen, "no_timestamps_token_id", None)
        if no_timestamps is None:
            raise ModelSourceError("the model's generation_config.json has no no_timestamps_token_id")
        return cls(
            eot=eot,
            sot=int(gen.decoder_start_token_id),
            no_timestamps=int(no_timestamps),
            suppress=tuple(int(t) for t in (gen.suppress_tokens or [])),
            begin_suppress=tuple(int(t) for t in (gen.begin_suppress_tokens or [])),
            lang_to_id=lang_to_id,
            task_to_id=task_to_id,
            multilingual=bool(getattr(gen, "is_multilingual", False) or lang_to_id),
        )

    def language_token(self, language: str) -> int:
        key = language if language.startswith("<|") else f"<|{language.lower()}|>"
        if key not in self.lang_to_id:
            raise ModelSourceError(f"language {language!r} is not known to this model")
        return self.lang_to_id[key]

    def prompt(self, language_id: int | None, task: str) -> list[int]:
        """The start-of-transcript sequence without timestamps."""
        if not self.multilingual:
            return [self.sot, self.no_timestamps]
        if task not in self.task_to_id:
            raise ModelSourceError(f"task {task!r} is not known to this model ({sorted(self.task_to_id)})")
        return [self.sot, language_id if language_id is not None else self.sot, self.task_to_id[task],
                self.no_timestamps]


def log_mel_batch(processor, clips: Sequence[np.ndarray], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """30-s padded log-mel features [batch, n_mels, 3000] (whisper.cpp pads the same way)."""
    features = processor.feature_extractor(
        list(clips), sampling_rate=SAMPLE_RATE, return_tensors="np"
    ).input_features
    return torch.from_numpy(np.asarray(features)).to(device=device, dtype=dtype)


@torch.inference_mode()
def encode(model, features: torch.Tensor, audio_ctx: int | None) -> torch.Tensor:
    """Encoder states on the full context, or the first ``audio_ctx`` positions."""
    if audio_ctx is None or clamp_audio_ctx(audio_ctx) >= FULL_AUDIO_CTX:
        return model.get_encoder()(features).last_hidden_state
    return encode_short(model, features, audio_ctx)


@torch.inference_mode()
def greedy_decode(
    model, encoder_states: torch.Tensor, prompt: list[int], special: SpecialTokens, max_tokens: int
) -> list[list[int]]:
    """Greedy decoding of a batch that shares one prompt; returns the text tokens per item."""
    batch = encoder_states.shape[0]
    device = encoder_states.device
    vocab = model.config.vocab_size
    max_positions = model.config.max_target_positions
    max_tokens = max(1, min(max_tokens, max_positions - len(prompt)))
    suppress = torch.zeros(vocab, dtype=torch.bool, device=device)
    suppress[special.eot + 1 :] = True  # sot, languages, tasks, no-timestamps, timestamps
    suppress[[t for t in special.suppress if t < vocab]] = True
    begin_suppress = suppress.clone()
    begin_suppress[[t for t in special.begin_suppress if t < vocab]] = True

    tokens = torch.tensor([prompt] * batch, dtype=torch.long, device=device)
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    outputs: list[list[int]] = [[] for _ in range(batch)]
    past = None
    step_input = tokens
    decoder = model.get_decoder()
    for step in range(max_tokens):
        out = decoder(input_ids=step_input, encoder_hidden_states=encoder_states,
                      past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = model.proj_out(out.last_hidden_state[:, -1]).float()
        logits.masked_fill_(begin_suppress if step == 0 else suppress, float("-inf"))
        next_tokens = logits.argmax(dim=-1)
        next_tokens = torch.where(finished, torch.full_like(next_tokens, special.eot), next_tokens)
        for index, token in enumerate(next_tokens.tolist()):
            if not finished[index] and token != special.eot:
                outputs[index].append(token)
        finished |= next_tokens == special.eot
        if bool(finished.all()):
            break
        step_input = next_tokens[:, None]
    return outputs


@torch.inference_mode()
def detect_language(model, encoder_states: torch.Tensor, special: SpecialTokens) -> list[int]:
    """The most likely language token for each item (multilingual models only)."""
    sot = torch.full((encoder_states.shape[0], 1), special.sot, dtype=torch.long, device=encoder_states.device)
    hidden = model.get_decoder()(input_ids=sot, encoder_hidden_states=encoder_states).last_hidden_state
    logits = model.proj_out(hidden[:, -1]).float()
    ids = torch.tensor(sorted(special.lang_to_id.values()), device=logits.device)
    return ids[logits[:, ids].argmax(dim=-1)].tolist()


def transcribe_arrays(
    model,
    processor,
    clips: Sequence[np.ndarray],
    options: DecodeOptions = DecodeOptions(),
    batch_size: int = 8,
    sources: Sequence[str] | None = None,
) -> list[Transcript]:
    """Transcribe 16 kHz mono float32 arrays; one :class:`Transcript` per clip, in order.

    ``options.audio_ctx`` applies to every clip; use :func:`transcribe_clip_contexts` for a
    per-clip context such as FUTO's dynamic one.
    """
    return transcribe_clip_contexts(model, processor, clips, [options.audio_ctx] * len(clips),
                                    options, batch_size, sources)


def transcribe_clip_contexts(
    model,
    processor,
    clips: Sequence[np.ndarray],
    contexts: Sequence[int | None],
    options: DecodeOptions = DecodeOptions(),
    batch_size: int = 8,
    sources: Sequence[str] | None = None,
    languages: Sequence[str | None] | None = None,
) -> list[Transcript]:
    """Like :func:`transcribe_arrays`, with its own encoder context per clip.

    Clips with the same context are batched together (the encoder length must match).
    ``languages`` gives each clip of a multilingual model its own language (Whisper codes;
    None: ``options.language``, else detected).
    """
    special = SpecialTokens.from_model(model)
    param = next(model.parameters())
    results: list[Transcript | None] = [None] * len(clips)
    order = sorted(range(len(clips)), key=lambda i: (contexts[i] or FULL_AUDIO_CTX, len(clips[i])))
    groups: list[list[int]] = []
    for index in order:
        if groups and contexts[groups[-1][0]] == contexts[index] and len(groups[-1]) < batch_size:
            groups[-1].append(index)
        else:
            groups.append([index])
    for group in groups:
        started = time.perf_counter()
        texts_tokens = _decode_group(model, processor, [clips[i] for i in group], contexts[group[0]],
                                     options, special, param, [languages[i] for i in group] if languages else None)
        elapsed = (time.perf_counter() - started) / len(group)
        for index, token_ids in zip(group, texts_tokens, strict=True):
            results[index] = Transcript(
                text=processor.tokenizer.decode(token_ids, skip_special_tokens=True).strip(),
                tokens=token_ids,
                duration=len(clips[index]) / SAMPLE_RATE,
                seconds=elapsed,
                audio_ctx=contexts[index],
                source=sources[index] if sources else str(index),
                hit_token_cap=len(token_ids) >= options.max_tokens,
            )
    return [r for r in results if r is not None]


def _decode_group(model, processor, clips, audio_ctx, options, special, param,
                  clip_languages: Sequence[str | None] | None = None) -> list[list[int]]:
    features = log_mel_batch(processor, clips, param.device, param.dtype)
    states = encode(model, features, audio_ctx)
    special = decoding_special(special, options)
    context = prompt_context(processor, options.prompt)
    languages: list[int | None] = [None] * len(clips)
    if special.multilingual:
        wanted = [language or options.language for language in (clip_languages or [None] * len(clips))]
        detected = detect_language(model, states, special) if not all(wanted) else [None] * len(clips)
        languages = [special.language_token(w) if w else d for w, d in zip(wanted, detected, strict=True)]
    if options.beam_size > 1 or options.whisper_cpp_rules:
        return [_beam_decode(model, states[i : i + 1], context + special.prompt(languages[i], options.task),
                             options, special) for i in range(len(clips))]
    outputs: list[list[int]] = [[] for _ in clips]
    for language in sorted(set(languages), key=str):
        members = [i for i, lang in enumerate(languages) if lang == language]
        decoded = greedy_decode(model, states[members], context + special.prompt(language, options.task),
                                special, options.max_tokens)
        for member, tokens in zip(members, decoded, strict=True):
            outputs[member] = tokens
    return outputs


def decoding_special(special: SpecialTokens, options: DecodeOptions) -> SpecialTokens:
    """``special`` with the suppression ``options`` asks for (a given list, blank or not)."""
    suppress = special.suppress if options.suppress_tokens is None else tuple(options.suppress_tokens)
    return replace(special, suppress=suppress, begin_suppress=special.begin_suppress if options.suppress_blank else ())


def prompt_context(processor, prompt: str) -> list[int]:
    """``<|startofprev|>`` and the prompt's last 224 tokens as whisper.cpp makes them; [] without one."""
    if not prompt:
        return []
    tokenizer = processor.tokenizer
    ids = tokenize(text_vocab(tokenizer), prompt)
    if not ids:
        return []
    return [int(tokenizer.convert_tokens_to_ids("<|startofprev|>")), *ids[-MAX_PROMPT_TOKENS:]]


def text_vocab(tokenizer) -> list[bytes]:
    """The tokenizer's regular vocabulary as raw bytes by id (what a GGML file holds)."""
    cached = getattr(tokenizer, "_whisper_tune_text_vocab", None)
    if cached is None:
        eot = int(tokenizer.convert_tokens_to_ids("<|endoftext|>"))
        cached = tokens_bytes(tokenizer.convert_ids_to_tokens(list(range(eot))))
        tokenizer._whisper_tune_text_vocab = cached
    return cached


def _beam_decode(model, states, prompt: list[int], options: DecodeOptions, special: SpecialTokens) -> list[int]:
    """One clip with whisper.cpp's beam search (or its greedy with thresholds, beam_size 1)."""
    vocab = model.config.vocab_size
    step_mask = torch.zeros(vocab, dtype=torch.bool, device=states.device)
    step_mask[special.eot + 1 :] = True
    step_mask[[t for t in special.suppress if t < vocab]] = True
    begin_mask = step_mask.clone()
    begin_mask[[t for t in special.begin_suppress if t < vocab]] = True
    settings = BeamSettings(
        beam_size=options.beam_size,
        # whisper.cpp's max_tokens: a decoder completes at step index >= it (see the runner).
        max_tokens=options.max_tokens if options.raw_max_tokens else max(1, options.max_tokens - 1),
        max_steps=int(model.config.max_target_positions) // 2 - 4,
        entropy_thold=options.entropy_thold,
        logprob_thold=-math.inf if options.logprob_thold is None else options.logprob_thold,
        no_speech_thold=1.0 if options.no_speech_thold is None else options.no_speech_thold,
    )
    # <|nospeech|> sits just before <|notimestamps|> in every Whisper vocabulary.
    result = beam_search(model, states, prompt, begin_mask, step_mask, special.eot, special.no_timestamps - 1,
                         settings)
    return [t for t in result.tokens if t < special.eot]


def transcribe_files(
    model_spec,
    paths: Sequence[str],
    options: DecodeOptions = DecodeOptions(),
    device: str | None = None,
) -> list[Transcript]:
    """Load a model and transcribe audio files (any format :func:`load_audio` reads)."""
    clips = [load_audio(path) for path in paths]  # fail on bad audio before loading a model
    torch_device = pick_device(device)
    model = load_model(model_spec, device=torch_device)
    processor = load_processor(model_spec)
    return transcribe_arrays(model, processor, clips, options, sources=[str(p) for p in paths])
