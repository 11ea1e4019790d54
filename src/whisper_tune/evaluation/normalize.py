"""Text normalization before scoring, as OpenAI scores Whisper.

English uses Whisper's ``EnglishTextNormalizer`` (lower case, no punctuation, numbers and
British spellings in one canonical form, "mr." -> "mister", fillers removed); other languages
use ``BasicTextNormalizer`` (lower case, punctuation and marks removed). Both come from
transformers; the English spelling table ships with the whisper-normalizer package.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from whisper_tune.models.hf_folder import english_spelling_mapping

Normalizer = Callable[[str], str]


@lru_cache(maxsize=1)
def _english() -> Normalizer:
    from transformers.models.whisper.english_normalizer import EnglishTextNormalizer

    return EnglishTextNormalizer(english_spelling_mapping())


@lru_cache(maxsize=1)
def _basic() -> Normalizer:
    from transformers.models.whisper.english_normalizer import BasicTextNormalizer

    return BasicTextNormalizer()


def normalizer_for(language: str | None) -> Normalizer:
    """The normalizer for a language code; None (unknown) and "en" get the English one."""
    if language is None or language.lower().split("-")[0] in ("en", "english"):
        return _english()
    return _basic()


def normalize_text(text: str, language: str | None = "en") -> str:
    """``text`` normalized for scoring, with runs of spaces collapsed."""
    return " ".join(normalizer_for(language)(text).split())
