"""What to read aloud: a word list turned into prompts of several lengths.

Each term is prompted alone, in short phrases and in full sentences (the carrier phrases of
``templates.yaml``, or the user's own file), so a fine-tune learns it in one-word dictation
as well as in running speech, and the short clips also serve ACFT. Some terms get one more
prompt in a *held-out* sentence that no training prompt uses: those takes form the
validation split, so evaluation measures the word and not memorised sentences.

Prompts are a pure function of the inputs: the same terms and templates give the same
prompts (texts, ids, order) on every run, which is what lets a recording session resume.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from whisper_tune.errors import ConfigError, DataError

log = logging.getLogger(__name__)

#: Longer entries are sentences, not terms: a term list names words and short names.
MAX_TERM_WORDS = 10
#: The placeholder every carrier phrase holds once.
PLACEHOLDER = "{term}"
#: Share of the terms that also get a held-out validation sentence (at least one term).
HELDOUT_SHARE = 0.25
TRAIN = "train"
VALIDATION = "val"
#: Template lists, in the order a term's training prompts draw from them.
TEMPLATE_KINDS = ("alone", "short", "sentence", "heldout")
#: The kind of prompts read from ``--sentences``.
USER_KIND = "user"
_SLUG_MAX = 40


@dataclass(frozen=True)
class Templates:
    """Carrier phrases, each holding :data:`PLACEHOLDER` once (see templates.yaml)."""

    alone: tuple[str, ...]
    short: tuple[str, ...]
    sentence: tuple[str, ...]
    heldout: tuple[str, ...]
    source: str = "built-in templates"


@dataclass(frozen=True)
class Prompt:
    """One thing to read aloud; ``id`` is the file stem its take is stored under."""

    id: str
    text: str
    term: str
    kind: str
    split: str


def read_terms(path: Path) -> list[str]:
    """The terms of a UTF-8 text file, one per line (blank lines and ``#`` comments skipped).

    Duplicates (ignoring case) are dropped with a warning. Raises :class:`DataError` for a
    missing, binary or empty file and for an entry of more than :data:`MAX_TERM_WORDS` words.
    """
    terms: list[str] = []
    seen: set[str] = set()
    for number, line in _text_lines(path, "terms file", "one term per line"):
        words = line.split()
        if len(words) > MAX_TERM_WORDS:
            raise DataError(
                f"{path}, line {number}: {len(words)} words ({line[:60]!r}...); a term has at most "
                f"{MAX_TERM_WORDS} words. Put sentences in a file of their own and pass it as `sentences`"
            )
        key = line.casefold()
        if key in seen:
            log.warning("%s, line %d: %r is listed twice; recording it once", path, number, line)
            continue
        seen.add(key)
        terms.append(line)
    return terms


def read_sentences(path: Path) -> list[str]:
    """The user's own prompts: one sentence per line (blank lines and ``#`` comments skipped)."""
    sentences = [line for _number, line in _text_lines(path, "sentences file", "one sentence per line")]
    return list(dict.fromkeys(sentences))


def _text_lines(path: Path, what: str, layout: str) -> list[tuple[int, str]]:
    """Numbered, whitespace-normalised, non-blank, non-comment lines of a UTF-8 file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"{path}: cannot read the {what} ({exc.strerror or exc}); expected a text file with {layout}"
        ) from exc
    nul = raw.find(b"\0")
    if nul >= 0:
        raise DataError(
            f"{path}: looks like a binary file (a NUL byte at offset {nul}); "
            f"the {what} must be plain UTF-8 text with {layout}"
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: invalid UTF-8 at byte {exc.start}; save the {what} as UTF-8 text with {layout}"
        ) from exc
    lines = [(number, " ".join(line.split())) for number, line in enumerate(text.splitlines(), start=1)]
    kept = [(number, line) for number, line in lines if line and not line.startswith("#")]
    if not kept:
        raise DataError(f"{path}: the {what} is empty; write {layout}")
    return kept


def load_templates(path: Path | None = None) -> Templates:
    """Carrier phrases from a YAML file (default: the built-in ``templates.yaml``)."""
    import yaml

    if path is None:
        text = importlib.resources.files("whisper_tune.record").joinpath("templates.yaml").read_text(encoding="utf-8")
        source = "built-in templates"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the templates file ({exc}); expected UTF-8 YAML") from exc
        source = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML ({exc})") from exc
    return _templates_from(data, source)


def _templates_from(data: object, source: str) -> Templates:
    expected = ", ".join(TEMPLATE_KINDS)
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping with the lists {expected}")
    unknown = sorted(set(map(str, data)) - set(TEMPLATE_KINDS))
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}; expected only {expected}")
    lists: dict[str, tuple[str, ...]] = {}
    for kind in TEMPLATE_KINDS:
        phrases = data.get(kind)
        if not isinstance(phrases, list) or not phrases:
            raise ConfigError(f"{source}: {kind!r} must be a non-empty list of phrases holding {PLACEHOLDER}")
        for phrase in phrases:
            if not isinstance(phrase, str) or phrase.count(PLACEHOLDER) != 1:
                raise ConfigError(f"{source}: {kind} phrase {phrase!r} must be text holding {PLACEHOLDER} exactly once")
        lists[kind] = tuple(" ".join(p.split()) for p in phrases)
    shared = set(lists["heldout"]) & (set(lists["short"]) | set(lists["sentence"]) | set(lists["alone"]))
    if shared:
        raise ConfigError(
            f"{source}: heldout phrase(s) {sorted(shared)} are also training phrases; held-out sentences must be new"
        )
    return Templates(lists["alone"], lists["short"], lists["sentence"], lists["heldout"], source)


def build_prompts(
    terms: Sequence[str],
    templates: Templates,
    per_term: int = 3,
    sentences: Sequence[str] = (),
    heldout_share: float = HELDOUT_SHARE,
) -> list[Prompt]:
    """Every prompt of a session, grouped by term, then the user's own sentences.

    A term's ``per_term`` training prompts are: alone, then short phrases and full sentences
    in turn (each term starts at a different phrase). A share of the terms (chosen by a hash
    of the term, so stable when the list grows) adds one held-out sentence for validation.
    """
    capacity = len(templates.alone) + len(templates.short) + len(templates.sentence)
    if not 1 <= per_term <= capacity:
        raise ConfigError(
            f"`per_term` {per_term}: expected 1 to {capacity} (the number of distinct phrases in {templates.source})"
        )
    slugs = term_slugs(terms)
    heldout = _heldout_ranks(terms, heldout_share) if terms else {}
    prompts: list[Prompt] = []
    for index, term in enumerate(terms):
        phrases = _training_phrases(templates, index)[:per_term]
        prompts.extend(_numbered(slugs[term], term, phrases, TRAIN))
        if term in heldout:
            phrase = templates.heldout[heldout[term] % len(templates.heldout)]
            prompts.extend(_numbered(slugs[term], term, [("heldout", phrase)], VALIDATION))
    for number, sentence in enumerate(sentences, start=1):
        prompts.append(Prompt(f"sentence-{number:03d}", sentence, term_in(sentence, terms), USER_KIND, TRAIN))
    return _unique_texts(prompts)


def _training_phrases(templates: Templates, index: int) -> list[tuple[str, str]]:
    """Alone first, then short and sentence phrases alternating, rotated by the term's index."""
    alone = [("alone", p) for p in _rotated(templates.alone, index)]
    short = [("short", p) for p in _rotated(templates.short, index)]
    sentence = [("sentence", p) for p in _rotated(templates.sentence, index)]
    mixed: list[tuple[str, str]] = []
    for position in range(max(len(short), len(sentence))):
        mixed.extend(kind_list[position] for kind_list in (short, sentence) if position < len(kind_list))
    return alone[:1] + mixed + alone[1:]


def _rotated(items: Sequence[str], shift: int) -> list[str]:
    shift %= len(items)
    return [*items[shift:], *items[:shift]]


def _numbered(slug: str, term: str, phrases: Iterable[tuple[str, str]], split: str) -> list[Prompt]:
    counts: dict[str, int] = {}
    prompts = []
    for kind, phrase in phrases:
        counts[kind] = counts.get(kind, 0) + 1
        text = phrase.replace(PLACEHOLDER, term)
        prompts.append(Prompt(f"{slug}-{kind}-{counts[kind]}", text, term, kind, split))
    return prompts


def _unique_texts(prompts: list[Prompt]) -> list[Prompt]:
    """The first prompt of each text: one take answers a text once, whatever asked for it."""
    seen: set[str] = set()
    unique = []
    for prompt in prompts:
        key = prompt.text.casefold()
        if key not in seen:
            seen.add(key)
            unique.append(prompt)
    return unique


def _heldout_ranks(terms: Sequence[str], share: float) -> dict[str, int]:
    """The held-out terms, each with its rank (which held-out sentence it gets)."""
    count = max(1, round(share * len(terms)))
    ranked = sorted(terms, key=lambda term: hashlib.sha256(term.casefold().encode()).hexdigest())
    return {term: rank for rank, term in enumerate(ranked[:count])}


def term_in(sentence: str, terms: Sequence[str]) -> str:
    """The first term (in list order) that ``sentence`` contains as whole words, else ''."""
    folded = sentence.casefold()
    for term in terms:
        if re.search(rf"(?<!\w){re.escape(term.casefold())}(?!\w)", folded):
            return term
    return ""


def term_slugs(terms: Sequence[str]) -> dict[str, str]:
    """A file-name-safe stem per term; terms whose stems collide get a hash suffix."""
    plain = {term: _slug(term) for term in terms}
    counts: dict[str, int] = {}
    for slug in plain.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {
        term: slug
        if counts[slug] == 1 and slug != "term"
        else f"{slug}-{hashlib.sha256(term.encode()).hexdigest()[:6]}"
        for term, slug in plain.items()
    }


def _slug(term: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", term).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:_SLUG_MAX].strip("-")
    return slug or "term"
