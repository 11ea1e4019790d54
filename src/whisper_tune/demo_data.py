"""The bundled demo dataset: DevOps dictation that stock tiny.en gets wrong.

The clips live in ``whisper_tune/assets/demo_dataset/`` (``train/`` and ``heldout/``, audio
plus a ``.txt`` transcript of the same stem, the layout ``manifest build`` pairs by name),
with ``terms.txt`` (the domain terms) and ``clips.csv`` (voice, speed and pitch of every clip).
They are generated once by ``scripts/make_demo_dataset.py`` with espeak-ng; the synthesis
helpers here are what that script uses, so they are importable and testable on their own.
"""

from __future__ import annotations

import io
import logging
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from whisper_tune.audio import resample, write_wav
from whisper_tune.errors import AudioError, DataError
from whisper_tune.whisper_constants import SAMPLE_RATE

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

ESPEAK = "espeak-ng"
#: espeak-ng's documented ranges for -s (words per minute) and -p (pitch).
SPEED_LIMITS = (80, 450)
PITCH_LIMITS = (0, 99)
#: Vorbis quality: 0.0 is best, 1.0 smallest. Measured on the held-out clips with stock
#: tiny.en: 0.6-0.9 give the same WER as the wav within noise, 1.0 makes it loop (WER 142 %);
#: 0.9 keeps the whole dataset under 2 MB.
OGG_COMPRESSION = 0.9


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


# --- synthesis (espeak-ng) ------------------------------------------------------------------


def espeak_version(executable: str = ESPEAK) -> str:
    """The first line of ``espeak-ng --version`` (raises :class:`AudioError` if not installed)."""
    result = _run_espeak([_espeak_path(executable), "--version"])
    return result.decode("utf-8", "replace").strip().splitlines()[0]


def synthesize_samples(
    text: str, voice: str, speed: int = 160, pitch: int = 50, executable: str = ESPEAK
) -> np.ndarray:
    """Speak ``text`` with espeak-ng; 16 kHz mono float32 samples.

    ``voice`` is an espeak-ng voice with an optional variant (``en-us``, ``en-gb+f2``),
    ``speed`` in words per minute and ``pitch`` 0-99 (espeak's default is 50).
    """
    import soundfile as sf

    _check_range("speed", speed, SPEED_LIMITS, "words per minute")
    _check_range("pitch", pitch, PITCH_LIMITS, "espeak-ng pitch")
    if not text.strip():
        raise AudioError("synthesize: the text is empty; give espeak-ng something to say")
    command = [_espeak_path(executable), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    wav = _run_espeak(command)
    try:
        samples, rate = sf.read(io.BytesIO(wav), dtype="float32")
    except Exception as exc:  # soundfile raises several types for a bad stream
        raise AudioError(f"espeak-ng voice {voice!r} produced no readable audio ({exc})") from exc
    if samples.size == 0:
        raise AudioError(f"espeak-ng voice {voice!r} produced no audio for {text!r}; check the voice name")
    mono = samples.mean(axis=1) if samples.ndim > 1 else samples
    return resample(np.ascontiguousarray(mono, dtype=np.float32), int(rate), SAMPLE_RATE)


def synthesize(
    text: str,
    voice: str,
    speed: int,
    out_path: str | os.PathLike[str],
    pitch: int = 50,
    executable: str = ESPEAK,
) -> Path:
    """Speak ``text`` into ``out_path`` (.wav as 16-bit PCM, .ogg as Vorbis), atomically."""
    samples = synthesize_samples(text, voice, speed, pitch, executable)
    return write_clip(out_path, samples)


def write_clip(path: str | os.PathLike[str], samples: np.ndarray) -> Path:
    """Write 16 kHz mono audio by suffix: ``.ogg`` (Vorbis) or ``.wav`` (16-bit PCM)."""
    import soundfile as sf

    from whisper_tune.fileio import atomic_open

    target = Path(path)
    suffix = target.suffix.lower()
    if suffix == ".wav":
        write_wav(target, samples)
    elif suffix == ".ogg":
        with atomic_open(target, "wb") as handle:
            sf.write(handle, np.asarray(samples, dtype=np.float32), SAMPLE_RATE, format="OGG",
                     subtype="VORBIS", compression_level=OGG_COMPRESSION)
    else:
        raise AudioError(f"{target}: cannot write {suffix or 'a file without suffix'}; use .ogg or .wav")
    return target


def _espeak_path(executable: str) -> str:
    found = shutil.which(executable)
    if found is None:
        raise AudioError(
            f"{executable}: not found on PATH; install espeak-ng (e.g. `apt-get install espeak-ng`) "
            "to synthesize speech"
        )
    return found


def _run_espeak(command: list[str]) -> bytes:
    try:
        result = subprocess.run(command, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AudioError(f"{command[0]}: could not run ({exc})") from exc
    if result.returncode != 0:
        message = result.stderr.decode("utf-8", "replace").strip() or f"exit status {result.returncode}"
        raise AudioError(f"{' '.join(command[:-1])}: espeak-ng failed ({message})")
    return result.stdout


def _check_range(name: str, value: int, limits: tuple[int, int], what: str) -> None:
    low, high = limits
    if not low <= value <= high:
        raise AudioError(f"synthesize: {name}={value} is outside {low}-{high} ({what})")
