"""Beam search over a Hugging Face Whisper decoder, step for step as whisper.cpp 1.8.5 does it.

``generate(num_beams=...)`` is a different algorithm (Hugging Face keeps finished hypotheses
in a separate pool and ranks with its own length penalty), so its tokens cannot be compared
with whisper.cpp's beam for beam. This module reproduces ``whisper_full``'s beam search
without timestamps (the rules are whisper.cpp's, this is our own implementation):

- ``beam_size`` decoders start from the same prompt; at each step every running decoder
  proposes its ``beam_size`` best next tokens (by masked logit), each scored with the sum of
  the log-probabilities of all its tokens;
- the candidates are sorted by that sum (ties: lower decoder index first) and handed to the
  running decoders in order, skipping a candidate whose tokens equal the one just taken,
  except at the first step (so the first token is the same in every decoder); when the
  candidates run out the assignment starts again from the best; each decoder takes over
  the KV cache of the decoder its candidate came from;
- a decoder completes at end-of-text or when its step index reaches ``max_tokens``
  (whisper.cpp's parameter); at the last allowed step a decoder that has not completed fails;
- the result is the completed decoder with the best ``sum of log-probabilities / length``
  (length penalty -1; end-of-text counts), where a decoder with more than 32 tokens whose
  last 32 have an entropy below ``entropy_thold`` is failed; if every decoder failed,
  decoder 0 is taken;
- the segment is dropped (empty text) when the no-speech probability of the first step
  (softmax of the raw logits, before any suppression) exceeds ``no_speech_thold`` and the
  result's average log-probability is below ``logprob_thold`` (whisper.cpp 1.8's rule).

The token masks are the caller's (see :mod:`whisper_tune.transcribe.hf`).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch

#: whisper.cpp measures a decoder's entropy over its last 32 tokens, and only past 32 tokens.
ENTROPY_WINDOW = 32


@dataclass(frozen=True)
class BeamSettings:
    """whisper.cpp's parameters that shape a beam search (disabled thresholds by default)."""

    beam_size: int = 5
    max_tokens: int = 0  # whisper.cpp's max_tokens: completes at step index >= max_tokens; 0 = no limit
    max_steps: int = 220  # n_text_ctx / 2 - 4
    entropy_thold: float = 0.0  # a decoder fails below this entropy (0 = never)
    logprob_thold: float = -math.inf
    no_speech_thold: float = 1.0


@dataclass
class _Sequence:
    tokens: list[int]
    logprobs: list[float]
    total: float = 0.0  # sum of all log-probabilities (whisper.cpp's sum_logprobs_all)
    completed: bool = False
    failed: bool = False

    def extended(self, token: int, logprob: float) -> _Sequence:
        return _Sequence([*self.tokens, token], [*self.logprobs, logprob], self.total + logprob)


@dataclass(frozen=True)
class BeamResult:
    tokens: list[int]  # the result's tokens, end-of-text included when it ended there
    no_speech: bool  # dropped by the no-speech rule
    score: float
    avg_logprob: float


@torch.inference_mode()
def beam_search(
    model,
    encoder_states: torch.Tensor,
    prompt: list[int],
    begin_mask: torch.Tensor,
    step_mask: torch.Tensor,
    eot: int,
    no_speech_token: int,
    settings: BeamSettings,
) -> BeamResult:
    """Decode one clip (``encoder_states`` [1, T, D]) with whisper.cpp's beam search.

    ``begin_mask``/``step_mask`` are boolean [vocab] masks of the tokens suppressed at the
    first step and after it.
    """
    n = max(1, settings.beam_size)
    states = encoder_states.expand(n, -1, -1)
    decoder = model.get_decoder()
    sequences = [_Sequence([], []) for _ in range(n)]
    step_input = torch.tensor([prompt] * n, dtype=torch.long, device=states.device)
    past = None
    no_speech_prob = 0.0
    for step in range(settings.max_steps):
        out = decoder(input_ids=step_input, encoder_hidden_states=states, past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = model.proj_out(out.last_hidden_state[:, -1]).float()
        if step == 0:
            no_speech_prob = float(torch.softmax(logits[0], dim=-1)[no_speech_token])
        logits.masked_fill_(begin_mask if step == 0 else step_mask, float("-inf"))
        logprobs = torch.log_softmax(logits, dim=-1)
        candidates = _candidates(sequences, logits, logprobs, n)
        sources = _assign(sequences, candidates, first_step=step == 0)
        past.self_attention_cache.reorder_cache(torch.tensor(sources, device=states.device))
        _complete(sequences, step, eot, settings)
        if all(s.completed or s.failed for s in sequences):
            break
        last = [s.tokens[-1] if s.tokens else eot for s in sequences]
        step_input = torch.tensor(last, dtype=torch.long, device=states.device)[:, None]
    return _best(sequences, no_speech_prob, settings)


def _candidates(sequences: list[_Sequence], logits: torch.Tensor, logprobs: torch.Tensor,
                k: int) -> list[tuple[_Sequence, int]]:
    """Each running decoder's ``k`` best continuations, best first, with their decoder index."""
    top = torch.topk(logits, k, dim=-1).indices.tolist()
    found = []
    for index, sequence in enumerate(sequences):
        if sequence.completed or sequence.failed:
            continue
        for token in top[index]:
            found.append((sequence.extended(token, float(logprobs[index, token])), index))
    found.sort(key=lambda item: (-item[0].total, item[1]))
    return found


def _assign(sequences: list[_Sequence], candidates: list[tuple[_Sequence, int]], first_step: bool) -> list[int]:
    """Hand the candidates to the running decoders; returns each decoder's cache source."""
    sources = list(range(len(sequences)))
    cursor = 0
    for index, sequence in enumerate(sequences):
        if sequence.completed or sequence.failed:
            continue
        if cursor >= len(candidates):
            cursor = 0
        chosen, source = candidates[cursor]
        cursor += 1
        while not first_step and cursor < len(candidates) and candidates[cursor][0].tokens == chosen.tokens:
            cursor += 1
        sequences[index] = _Sequence(list(chosen.tokens), list(chosen.logprobs), chosen.total)
        sources[index] = source
    return sources


def _complete(sequences: list[_Sequence], step: int, eot: int, settings: BeamSettings) -> None:
    for sequence in sequences:
        if sequence.completed or sequence.failed:
            continue
        if sequence.tokens[-1] == eot or (settings.max_tokens > 0 and step >= settings.max_tokens):
            sequence.completed = True
        elif step == settings.max_steps - 1:
            sequence.failed = True  # whisper.cpp's "stuck in a repetition loop"


def _entropy(tokens: list[int]) -> float:
    window = tokens[-ENTROPY_WINDOW:]
    counts = Counter(window)
    return -sum(c / len(window) * math.log(c / len(window)) for c in counts.values())


def _best(sequences: list[_Sequence], no_speech_prob: float, settings: BeamSettings) -> BeamResult:
    best, best_score = 0, -math.inf
    scores = [0.0] * len(sequences)
    for index, sequence in enumerate(sequences):
        if sequence.failed:
            continue
        scores[index] = sum(sequence.logprobs) / len(sequence.logprobs)
        if len(sequence.tokens) > ENTROPY_WINDOW and _entropy(sequence.tokens) < settings.entropy_thold:
            sequence.failed = True
            continue
        if scores[index] > best_score:
            best, best_score = index, scores[index]
    chosen = sequences[best]
    # A decoder that failed at the step limit has no result (whisper.cpp's result_len 0).
    tokens = chosen.tokens if chosen.completed else []
    avg = sum(chosen.logprobs[: len(tokens)]) / len(tokens) if tokens else -math.inf
    no_speech = no_speech_prob > settings.no_speech_thold and avg < settings.logprob_thold
    return BeamResult([] if no_speech else tokens, no_speech, scores[best], avg)
