"""Making whisper.cpp suppress exactly the tokens the reference (HF) decoder suppresses.

Our HF decoder, like OpenAI's, masks the model's ``generation_config.suppress_tokens`` list.
whisper.cpp has no such list: ``suppress_nst`` masks the tokens whose text is one of OpenAI's
non-speech symbols (or a space and one), compared as whole token strings, plus " -" and " '".
For OpenAI's tiny.en that is 82 ids, a subset of the 88 text ids in the HF list: it misses
the first byte pair of multi-byte symbols like "♪" (ids 17992 and 20724), which OpenAI adds
on purpose. The rest is done with ``suppress_regex``, a regular expression whisper.cpp
matches against every token string at every step, so it is kept to the few missing tokens
(it costs about 1 ms per decoding step per alternative on a slow CPU).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

#: whisper.cpp 1.8.5's ``non_speech_tokens`` (src/whisper.cpp), matched as whole token strings.
WHISPER_CPP_NON_SPEECH: tuple[str, ...] = (
    '"', "#", "(", ")", "*", "+", "/", ":", ";", "<", "=", ">", "@", "[", "\\", "]", "^",
    "_", "`", "{", "|", "}", "~", "「", "」", "『", "』", "<<", ">>", "<<<", ">>>", "--",
    "---", "-(", "-[", "('", '("', "((", "))", "(((", ")))", "[[", "]]", "{{", "}}", "♪♪",
    "♪♪♪", "♩", "♪", "♫", "♬", "♭", "♮", "♯",
)
#: Suppressed on their own by suppress_nst: a hyphen or quote may not start a word.
WHISPER_CPP_WORD_START: tuple[str, ...] = (" -", " '")


@dataclass(frozen=True)
class SuppressPlan:
    """whisper.cpp settings that mask ``target`` (text token ids below end-of-text)."""

    suppress_nst: bool
    regex: str | None
    regex_ids: tuple[int, ...]
    target: frozenset[int]

    def to_dict(self) -> dict[str, object]:
        return {"suppress_nst": self.suppress_nst, "regex_ids": list(self.regex_ids),
                "n_suppressed": len(self.target)}


def non_speech_ids(vocab: Sequence[bytes]) -> frozenset[int]:
    """The ids whisper.cpp's ``suppress_nst`` masks, for a GGML file's vocabulary."""
    token_to_id: dict[bytes, int] = {}
    for index, token in enumerate(vocab):
        token_to_id[bytes(token)] = index  # whisper.cpp's map keeps the last of duplicates
    ids = set()
    for symbol in WHISPER_CPP_NON_SPEECH:
        for text in (symbol, " " + symbol):
            if text.encode("utf-8") in token_to_id:
                ids.add(token_to_id[text.encode("utf-8")])
    for text in WHISPER_CPP_WORD_START:
        if text.encode("utf-8") in token_to_id:
            ids.add(token_to_id[text.encode("utf-8")])
    return frozenset(ids)


def plan_suppression(vocab: Sequence[bytes], suppress_tokens: Iterable[int]) -> SuppressPlan:
    """Settings under which whisper.cpp masks exactly ``suppress_tokens`` (text ids only).

    Special tokens (id >= len(vocab), i.e. end-of-text and above) are left out: whisper.cpp
    masks them all itself without timestamps. ``suppress_nst`` is used when its set lies
    inside the target; the remaining ids go into a regex of their exact byte strings.
    """
    target = frozenset(int(t) for t in suppress_tokens if 0 <= int(t) < len(vocab))
    nst = non_speech_ids(vocab)
    use_nst = bool(nst) and nst <= target
    remaining = sorted(target - nst if use_nst else target)
    counts = Counter(bytes(token) for token in vocab)
    # A string that occurs twice cannot be targeted by text (whisper.cpp's map keeps one id).
    usable = [i for i in remaining if vocab[i] and counts[bytes(vocab[i])] == 1]
    return SuppressPlan(use_nst, token_regex(vocab[i] for i in usable) if usable else None, tuple(usable), target)


def token_regex(tokens: Iterable[bytes]) -> str:
    """An ECMAScript regex matching exactly these token strings (every byte as ``\\xHH``)."""
    return "|".join("".join(f"\\x{byte:02x}" for byte in bytes(token)) for token in tokens)

