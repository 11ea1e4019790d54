"""The bundled demo dataset: DevOps dictation that stock tiny.en gets wrong.

The clips live in ``whisper_tune/assets/demo_dataset/`` (``train/`` and ``heldout/``, audio
plus a ``.txt`` transcript of the same stem, the layout ``manifest build`` pairs by name),
with ``terms.txt`` (the domain terms) and ``clips.csv`` (voice, speed and pitch of every clip).
They are generated once by ``scripts/make_demo_dataset.py`` with espeak-ng (the synthesis
lives in that script: the demo only reads the bundled clips).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from whisper_tune.errors import DataError

log = logging.getLogger(__name__)

DATASET_PACKAGE = "whisper_tune"
DATASET_PARTS = ("assets", "demo_dataset")
TRAIN = "train"
HELDOUT = "heldout"
SPLITS = (TRAIN, HELDOUT)
TERMS_FILE = "terms.txt"
CLIPS_FILE = "clips.csv"
#: Columns of ``clips.csv``; ``file`` is relative to the dataset folder.
CLIP_COLUMNS = ("file", "split", "sentence", "voice", "speed", "pitch", "text")



# --- the packaged dataset ------------------------------------------------------------------


def demo_dataset_dir() -> Path:
    """The installed dataset folder (``.../whisper_tune/assets/demo_dataset``).

    Raises :class:`DataError` when the package was installed without its assets (a wheel
    built without package data, or an import from a zip file).
    """
    folder = resources.files(DATASET_PACKAGE)
    for part in DATASET_PARTS:  # Traversable.joinpath takes one name on Python 3.10
        folder = folder / part
    path = Path(str(folder))
    if not path.is_dir() or not (path / TERMS_FILE).is_file():
        raise DataError(
            f"{path}: the bundled demo dataset is missing; reinstall whisper-tune from a wheel "
            "or checkout that includes whisper_tune/assets/demo_dataset "
            "(regenerate it with scripts/make_demo_dataset.py)"
        )
    return path


def demo_split_dir(split: str) -> Path:
    """The ``train`` or ``heldout`` folder of the bundled dataset."""
    if split not in SPLITS:
        raise DataError(f"demo dataset split {split!r} does not exist; expected one of {', '.join(SPLITS)}")
    return demo_dataset_dir() / split


def demo_terms(folder: str | os.PathLike[str] | None = None) -> list[str]:
    """The domain terms, in file order (``terms.txt`` of ``folder`` or of the bundled dataset)."""
    path = Path(folder) if folder is not None else demo_dataset_dir()
    return read_terms(path / TERMS_FILE)


def read_terms(path: str | os.PathLike[str]) -> list[str]:
    """One term per line; blank lines and ``#`` comments are ignored, duplicates refused."""
    file = Path(path)
    try:
        lines = file.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DataError(f"{file}: cannot read the term list ({exc.strerror or exc})") from exc
    terms = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    seen: set[str] = set()
    for term in terms:
        if term.lower() in seen:
            raise DataError(f"{file}: term {term!r} is listed twice; keep one line per term")
        seen.add(term.lower())
    if not terms:
        raise DataError(f"{file}: no terms found; expected one domain term per line")
    return terms


# --- per-term hit rate ----------------------------------------------------------------------


@dataclass(frozen=True)
class TermCount:
    """How often a term was said (in references) and written correctly (in hypotheses)."""

    term: str
    said: int
    hit: int

    @property
    def rate(self) -> float:
        return self.hit / self.said if self.said else 0.0


def term_hits(
    references: Sequence[str], hypotheses: Sequence[str], terms: Iterable[str]
) -> list[TermCount]:
    """Per-term hit counts over paired transcripts.

    A term counts once per reference that contains it; it is a hit when the paired
    hypothesis contains it too. Matching is on whole words of ASCII letters and digits,
    case-insensitive, with punctuation ignored, so "kubectl," and "Kubernetes's" match but
    "Cube Control" and "kubectls" do not.
    """
    if len(references) != len(hypotheses):
        raise DataError(
            f"term_hits: {len(references)} references but {len(hypotheses)} hypotheses; "
            "pass one hypothesis per reference"
        )
    normalized = [(_words(ref), _words(hyp)) for ref, hyp in zip(references, hypotheses, strict=True)]
    counts = []
    for term in terms:
        needle = _words(term)
        if not needle:
            raise DataError(f"term {term!r} has no letters or digits to match")
        said = [hyp for ref, hyp in normalized if _contains(ref, needle)]
        counts.append(TermCount(term, len(said), sum(_contains(hyp, needle) for hyp in said)))
    return counts


def _words(text: str) -> list[str]:
    # Any other character separates words, so a possessive ("Kubernetes's") still says the term.
    return re.findall(r"[a-z0-9]+", text.lower())


def _contains(words: list[str], needle: list[str]) -> bool:
    width = len(needle)
    return any(words[i : i + width] == needle for i in range(len(words) - width + 1))
