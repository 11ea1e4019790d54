"""whisper.cpp's own text tokenizer, for prompts: the reference model must see the same ids.

whisper.cpp does not run GPT-2's byte-pair merges when it tokenizes an ``initial_prompt``.
It splits the text into words with GPT-2's pre-tokenizer pattern (ASCII letters and digits
only, since its ``std::regex`` classes use the C locale) and then covers each word greedily,
left to right, with the longest vocabulary entry that starts there; a byte no entry covers
is skipped. This can give other ids than the Hugging Face tokenizer for the same text (for
example a glossary of product names), so a reference decoder that is to produce
whisper.cpp's tokens must use this tokenization, over the GGML file's vocabulary.

whisper.cpp keeps at most ``n_text_ctx // 2`` (224) prompt tokens, the last ones.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from whisper_tune.whisper_constants import N_TEXT_CTX

#: GPT-2's pre-tokenizer pattern as whisper.cpp writes it (C-locale letter and digit classes).
_WORDS = re.compile(
    rb"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"
)
#: whisper.cpp keeps this many prompt tokens at most (n_text_ctx / 2: 224).
MAX_PROMPT_TOKENS = N_TEXT_CTX // 2


def split_words(text: str) -> list[bytes]:
    """The pieces whisper.cpp tokenizes separately."""
    return [match.group(0) for match in _WORDS.finditer(text.encode("utf-8")) if match.group(0)]


def tokenize(vocab: Sequence[bytes], text: str) -> list[int]:
    """Token ids of ``text`` as whisper.cpp's ``whisper_tokenize`` makes them.

    ``vocab`` is the text vocabulary by id (a GGML file's, or the model's as raw bytes);
    duplicates resolve to the last id, as in whisper.cpp's token map.
    """
    token_to_id = {bytes(token): index for index, token in enumerate(vocab)}
    longest = max((len(token) for token in token_to_id), default=0)
    ids: list[int] = []
    for word in split_words(text):
        start = 0
        while start < len(word):
            for end in range(min(len(word), start + longest), start, -1):
                found = token_to_id.get(word[start:end])
                if found is not None:
                    ids.append(found)
                    start = end
                    break
            else:
                start += 1  # no entry covers this byte: whisper.cpp logs it and moves on
    return ids
