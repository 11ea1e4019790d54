"""Decoder inputs and labels for supervised fine-tuning.

For a clip with text tokens ``t1..tn`` the decoder input is the prompt followed by the
text, and the labels are the same sequence shifted left by one, ending with end-of-text::

    decoder_input_ids: <|sot|> [<|lang|> <|task|>] <|notimestamps|> t1 ... tn
    labels:            [<|lang|> <|task|>] <|notimestamps|> t1 ... tn <|eot|>

so the start token appears exactly once (the common bug is to tokenize with the special
tokens and let the model prepend ``decoder_start_token_id`` again). English-only models have
no language or task token. A multilingual model's language token is the clip's own (the
manifest's ``language`` column), else the configured default. With timestamps on,
``<|notimestamps|>`` is left out and the text is one segment: ``<|0.00|> t1 ... tn <|end|>``
where ``<|end|>`` is the clip's duration on Whisper's 20 ms grid. Labels are padded with -100 (ignored by the loss).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from whisper_tune.errors import ConfigError, DataError
from whisper_tune.transcribe.hf import SpecialTokens
from whisper_tune.whisper_constants import CHUNK_SECONDS, TIMESTAMP_STEP, language_code

IGNORE_INDEX = -100
#: The last timestamp token's time (the window's end).
MAX_TIMESTAMP = float(CHUNK_SECONDS)


@dataclass(frozen=True)
class Example:
    """One clip's decoder input and labels (same length)."""

    decoder_input_ids: list[int]
    labels: list[int]


def prompt_tokens(special: SpecialTokens, language: str | None, task: str, timestamps: bool) -> list[int]:
    """The forced start of every target: sot, then language and task (multilingual), then notimestamps."""
    tokens = [special.sot]
    if special.multilingual:
        if not language:
            raise ConfigError("language is not set, but the model is multilingual; set language=en (or the "
                              "language of your data) so that the right language token is trained")
        tokens.append(_language_token(special, language))
        if task not in special.task_to_id:
            raise ConfigError(f"task={task!r} is not known to this model; expected one of {sorted(special.task_to_id)}")
        tokens.append(special.task_to_id[task])
    elif language and language_code(language) != "en":
        raise ConfigError(f"language={language!r} but the model is English-only (.en); leave language empty or "
                          "use a multilingual model")
    if not timestamps:
        tokens.append(special.no_timestamps)
    return tokens


def _language_token(special: SpecialTokens, language: str) -> int:
    key = f"<|{language_code(language)}|>"
    if key not in special.lang_to_id:
        raise ConfigError(f"language={language!r} is not known to this model (e.g. en, de, fr)")
    return special.lang_to_id[key]


def clip_prompts(special: SpecialTokens, languages: Sequence[str | None], ids: Sequence[str], default: str | None,
                 task: str, timestamps: bool) -> list[list[int]]:
    """Each clip's prompt (:func:`prompt_tokens`) with the clip's own language, else ``default``.

    A clip whose language the model cannot take is refused by name (DataError); a missing
    language with no default is the configuration's fault (ConfigError, as before).
    """
    prompts: dict[str | None, list[int]] = {}
    result = []
    for clip_id, language in zip(ids, languages, strict=True):
        chosen = language or default
        if chosen not in prompts:
            try:
                prompts[chosen] = prompt_tokens(special, chosen, task, timestamps)
            except ConfigError as exc:
                if not language:
                    raise
                raise DataError(
                    f"clip {clip_id!r}: the manifest's language {language!r} cannot be used: {exc}") from exc
        result.append(prompts[chosen])
    return result


def training_language(special: SpecialTokens, languages: Sequence[str | None], default: str | None) -> str | None:
    """The one language every clip trains in (Whisper's code), or None when they differ or the
    model is English-only: what the trained model's generation config should force."""
    if not special.multilingual:
        return None
    codes = {language_code(language or default or "") for language in languages}
    return codes.pop() if len(codes) == 1 and "" not in codes else None


def text_tokens(tokenizer, text: str) -> list[int]:
    """Whisper's text tokens of a transcript: with the leading space its decoder produces."""
    return list(tokenizer.encode(" " + text.strip(), add_special_tokens=False))


def timestamp_token(special: SpecialTokens, seconds: float) -> int:
    """``<|x.xx|>`` for ``seconds`` rounded to the 20 ms grid and clamped to 0..30 s."""
    clamped = min(max(seconds, 0.0), MAX_TIMESTAMP)
    return special.no_timestamps + 1 + round(clamped / TIMESTAMP_STEP)


def build_example(
    prompt: list[int],
    text_ids: list[int],
    special: SpecialTokens,
    timestamps: bool = False,
    duration: float = 0.0,
) -> Example:
    """Decoder input and labels for one clip (see the module docstring)."""
    body = list(text_ids)
    if timestamps:
        body = [timestamp_token(special, 0.0), *body, timestamp_token(special, duration)]
    sequence = [*prompt, *body, special.eot]
    return Example(decoder_input_ids=sequence[:-1], labels=sequence[1:])


def encode_transcripts(
    tokenizer,
    special: SpecialTokens,
    texts: list[str],
    ids: list[str],
    durations: list[float],
    prompts: Sequence[list[int]],
    timestamps: bool,
    max_tokens: int,
) -> list[Example]:
    """Examples for every transcript (``prompts``: each clip's, see :func:`clip_prompts`);
    refuses empty or too long ones, naming the clip."""
    examples = []
    for clip_id, text, duration, prompt in zip(ids, texts, durations, prompts, strict=True):
        tokens = text_tokens(tokenizer, text)
        if not text.strip():
            raise DataError(f"clip {clip_id!r}: the transcript is empty; remove the clip or add its text")
        example = build_example(prompt, tokens, special, timestamps, duration)
        if len(example.labels) > max_tokens:
            raise DataError(
                f"clip {clip_id!r}: the transcript needs {len(example.labels)} tokens, more than "
                f"max_label_tokens={max_tokens}; split the clip or raise max_label_tokens (at most 440)"
            )
        examples.append(example)
    return examples
