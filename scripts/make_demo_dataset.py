#!/usr/bin/env python3
"""Generate whisper-tune's bundled demo dataset: DevOps dictation spoken by espeak-ng.

Writes ``src/whisper_tune/assets/demo_dataset/`` (or ``--out``):

    train/s01-en-us-m3.ogg   + train/s01-en-us-m3.txt     24 sentences x 4 voices
    heldout/h01-en-us-nyc-m2.ogg + .txt                   12 NEW sentences x 2 UNSEEN voices
    terms.txt    the domain terms, one per line
    clips.csv    file, split, sentence, voice, speed, pitch, text of every clip
    README.md    provenance, licence and the stock model's measured WER / term hit rate

Every sentence is written as dictation with normal casing and punctuation; the audio says
each domain term the way engineers say it ("kubectl" -> "cube control", "nginx" ->
"engine x"), because espeak-ng would otherwise spell such words out letter by letter.
Speeds and pitches come from a fixed seed, so re-running regenerates identical transcripts
and clips.csv; the audio itself may differ slightly with another espeak-ng version.

By default the script then transcribes every clip with the stock model (``--model``,
default the embedded tiny.en) and records WER and the per-term hit rate in README.md.
``--measure-only`` re-measures an existing dataset without synthesizing again.

    .venv/bin/python scripts/make_demo_dataset.py            # regenerate + measure
    .venv/bin/python scripts/make_demo_dataset.py --measure-only
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whisper_tune.audio import resample, write_wav
from whisper_tune.errors import AudioError
from whisper_tune.fileio import atomic_open
from whisper_tune.whisper_constants import SAMPLE_RATE

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "src" / "whisper_tune" / "assets" / "demo_dataset"
SEED = 20261121

log = logging.getLogger("make_demo_dataset")

ESPEAK = "espeak-ng"
#: espeak-ng's documented ranges for -s (words per minute) and -p (pitch).
SPEED_LIMITS = (80, 450)
PITCH_LIMITS = (0, 99)
#: Vorbis quality: 0.0 is best, 1.0 smallest. Measured on the held-out clips with stock
#: tiny.en: 0.6-0.9 give the same WER as the wav within noise, 1.0 makes it loop (WER 142 %);
#: 0.9 keeps the whole dataset under 2 MB.
OGG_COMPRESSION = 0.9


@dataclass(frozen=True)
class Term:
    """A domain term as written in transcripts, and as espeak-ng should say it."""

    written: str
    spoken: str


# Each term was checked against stock tiny.en (greedy) before it was kept: it is heard as
# something else ("Kubernetes" -> "puberty", "Terraform" -> "10 or four"). Terms tiny.en
# already writes correctly (Kafka, Jenkins, Cassandra, Helm chart) were left out.
TERMS: tuple[Term, ...] = (
    Term("Kubernetes", "Kubernetes"),
    Term("kubectl", "cube control"),
    Term("Terraform", "Terraform"),
    Term("Grafana", "Grafana"),
    Term("Prometheus", "Prometheus"),
    Term("nginx", "engine x"),
    Term("PostgreSQL", "post gress Q L"),
    Term("Istio", "Istio"),
    Term("etcd", "et see dee"),
    Term("Ansible", "Ansible"),
    Term("Redis", "reddiss"),
    Term("Zookeeper", "Zookeeper"),
    Term("Fluentd", "fluent dee"),
    Term("Linkerd", "linker dee"),
    Term("Pulumi", "Pulumi"),
    Term("Podman", "pod man"),
    Term("Memcached", "mem cash dee"),
    Term("HAProxy", "H A proxy"),
    Term("Cilium", "Cilium"),
    Term("systemd", "system dee"),
)

# Training sentences: every term two or three times, always in a different context.
TRAIN_SENTENCES: tuple[str, ...] = (
    "Deploy the new build to Kubernetes and check it with kubectl.",
    "Terraform created the cluster, and Grafana shows that it is healthy.",
    "Prometheus scrapes the metrics from every nginx pod.",
    "Our PostgreSQL primary runs next to a Redis cache.",
    "Turn on Istio for the payments service, then back up etcd.",
    "Ansible installs Zookeeper on the three old machines.",
    "Fluentd ships the logs, and Linkerd encrypts the traffic.",
    "We moved the network code from Terraform to Pulumi last week.",
    "Build the image with Podman and push it to the registry.",
    "Memcached sits behind HAProxy on the edge nodes.",
    "Cilium replaced the old network plugin on Kubernetes.",
    "Restart the service with systemd and watch the Grafana panel.",
    "Use kubectl to read the logs from the Redis pod.",
    "Prometheus fires an alert when etcd runs out of disk.",
    "The nginx config now forwards every request to HAProxy.",
    "Ansible restarts PostgreSQL after every upgrade.",
    "Zookeeper and Istio both need more memory.",
    "Fluentd crashed, so systemd restarted it twice.",
    "Linkerd and Cilium work well together on this cluster.",
    "Pulumi creates the buckets, and Podman runs the tests.",
    "Add Memcached to the staging Kubernetes cluster.",
    "Grafana reads from Prometheus and from PostgreSQL.",
    "Terraform also manages the etcd backups.",
    "The nginx logs go through Fluentd to our storage.",
)

# Held-out sentences: new sentences that reuse every term in a context not seen in training.
HELDOUT_SENTENCES: tuple[str, ...] = (
    "Can you check whether Kubernetes scaled the nginx pods?",
    "Please open Grafana and look at the Redis latency.",
    "I think the kubectl command failed because of etcd.",
    "Terraform and Ansible disagree about the firewall rules.",
    "Prometheus should also watch the Zookeeper nodes.",
    "Move the PostgreSQL backups off the Memcached hosts.",
    "We need Istio or Linkerd, but not both.",
    "Fluentd dropped some lines when HAProxy restarted.",
    "Pulumi now sets up Cilium on every new cluster.",
    "Podman cannot start because systemd is misconfigured.",
    "Tomorrow I will upgrade Kubernetes and Grafana.",
    "Redis and nginx share the same machine today.",
)

# espeak-ng voice + variant. The held-out voices are never used for training: another
# accent (New York, Scotland) and other variants.
TRAIN_VOICES: tuple[str, ...] = ("en-us+m3", "en-gb+f2", "en-us+f4", "en-gb-x-rp+m1")
HELDOUT_VOICES: tuple[str, ...] = ("en-us-nyc+m2", "en-gb-scotland+f3")
SPEED_RANGE = (140, 190)  # words per minute
PITCH_RANGE = (35, 65)  # espeak-ng's default is 50
#: What the dataset promises its users (tests check 1-10 s).
DURATION_RANGE = (2.0, 6.0)
SIZE_BUDGET_BYTES = 2_000_000
#: Peak level of every clip: one loudness for all voices, and headroom for Vorbis overshoot.
PEAK_LEVEL = 0.8


@dataclass(frozen=True)
class Clip:
    """One clip to synthesize: where it goes, what it says and how."""

    split: str
    sentence: str  # sentence id, e.g. s03 or h11
    voice: str
    speed: int
    pitch: int
    text: str

    @property
    def stem(self) -> str:
        return f"{self.sentence}-{self.voice.replace('+', '-')}"

    @property
    def file(self) -> str:
        return f"{self.split}/{self.stem}.ogg"


# --- plan --------------------------------------------------------------------------------


def plan_clips(seed: int = SEED) -> list[Clip]:
    """Every clip of both splits, with seeded speed and pitch, in a fixed order."""
    from whisper_tune.demo_data import HELDOUT, TRAIN

    rng = random.Random(seed)
    clips: list[Clip] = []
    for split, prefix, sentences, voices in (
        (TRAIN, "s", TRAIN_SENTENCES, TRAIN_VOICES),
        (HELDOUT, "h", HELDOUT_SENTENCES, HELDOUT_VOICES),
    ):
        for number, text in enumerate(sentences, start=1):
            for voice in voices:
                clips.append(Clip(split, f"{prefix}{number:02d}", voice, rng.randint(*SPEED_RANGE),
                                  rng.randint(*PITCH_RANGE), text))
    return clips


def spoken_text(text: str) -> str:
    """The sentence as espeak-ng should say it: each term replaced by its spoken form."""
    for term in TERMS:
        text = re.sub(rf"\b{re.escape(term.written)}\b", term.spoken, text)
    return text


def check_plan(clips: Sequence[Clip]) -> None:
    """Refuse a plan that breaks the dataset's promises before spending time on synthesis."""
    train = {c.text for c in clips if c.split == "train"}
    heldout = {c.text for c in clips if c.split == "heldout"}
    if train & heldout:
        raise SystemExit(f"sentences in both splits: {sorted(train & heldout)}")
    if set(TRAIN_VOICES) & set(HELDOUT_VOICES):
        raise SystemExit(f"voices in both splits: {sorted(set(TRAIN_VOICES) & set(HELDOUT_VOICES))}")
    for term in TERMS:
        pattern = re.compile(rf"\b{re.escape(term.written)}\b")
        for split, texts in (("train", train), ("heldout", heldout)):
            if not any(pattern.search(t) for t in texts):
                raise SystemExit(f"term {term.written!r} never occurs in the {split} sentences")


def check_voices(voices: Sequence[str], executable: str) -> None:
    """espeak-ng silently falls back for an unknown variant: check that each one exists."""
    listing = subprocess.run([executable, "--voices=variant"], capture_output=True, text=True, check=True)
    variants = set(re.findall(r"!v/(\S+)", listing.stdout))
    missing = [v for v in voices if "+" in v and v.split("+", 1)[1] not in variants]
    if missing:
        raise SystemExit(f"espeak-ng has no variant for {missing}; see `{executable} --voices=variant`")


# --- synthesis ---------------------------------------------------------------------------


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


def synthesize_all(clips: Sequence[Clip], folder: Path, executable: str, previous: Path | None = None) -> list[float]:
    """Write every clip and its transcript under ``folder``; returns the clip durations.

    A clip whose audio is unchanged from ``previous`` (the dataset being replaced) keeps the
    previous file, so that re-running the script leaves git with nothing to commit.
    """
    from rich.progress import track

    from whisper_tune.fileio import atomic_write_text

    durations = []
    for clip in track(clips, description="espeak-ng"):
        samples = synthesize_samples(spoken_text(clip.text), clip.voice, clip.speed, clip.pitch, executable)
        samples = samples * (PEAK_LEVEL / max(float(abs(samples).max()), 1e-6))
        seconds = len(samples) / SAMPLE_RATE
        low, high = DURATION_RANGE
        if not low <= seconds <= high:
            raise SystemExit(f"{clip.file}: {seconds:.2f} s is outside {low}-{high} s; shorten the sentence")
        write_clip(folder / clip.file, samples)
        if previous is not None:
            keep_unchanged(previous / clip.file, folder / clip.file)
        atomic_write_text((folder / clip.file).with_suffix(".txt"), clip.text + "\n")
        durations.append(seconds)
    return durations


def keep_unchanged(old: Path, new: Path) -> None:
    """Replace ``new`` by ``old`` when both decode to the same samples.

    libsndfile gives every Ogg stream a random serial number, so two encodings of the same
    audio differ in a few header bytes; only the decoded samples say whether a clip changed.
    """
    from whisper_tune.audio import load_audio

    if old.is_file() and np.array_equal(load_audio(old), load_audio(new)):
        shutil.copyfile(old, new)


def write_clip_table(clips: Sequence[Clip], path: Path) -> None:
    from whisper_tune.demo_data import CLIP_COLUMNS
    from whisper_tune.fileio import atomic_write_text

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CLIP_COLUMNS)
    for c in clips:
        writer.writerow([c.file, c.split, c.sentence, c.voice, c.speed, c.pitch, c.text])
    atomic_write_text(path, buffer.getvalue())


def read_clip_table(path: Path) -> list[Clip]:
    if not path.is_file():
        raise SystemExit(f"{path}: no clip table; generate the dataset first (run without --measure-only)")
    with path.open(encoding="utf-8", newline="") as handle:
        return [Clip(r["split"], r["sentence"], r["voice"], int(r["speed"]), int(r["pitch"]), r["text"])
                for r in csv.DictReader(handle)]


# --- measurement -------------------------------------------------------------------------


@dataclass
class SplitScore:
    split: str
    clips: int
    seconds: float
    wer: float
    term_said: int
    term_hit: int


@dataclass
class Measurement:
    model: str
    scores: list[SplitScore]
    per_term: dict[str, tuple[int, ...]]  # 4 counts per term -> train said/hit, heldout said/hit
    examples: list[tuple[str, str]]  # (reference, hypothesis) from held-out


def measure(folder: Path, clips: Sequence[Clip], model_spec: str) -> Measurement:
    """Transcribe every clip with the stock model (HF greedy, full context)."""
    from whisper_tune.audio import load_audio
    from whisper_tune.demo_data import term_hits
    from whisper_tune.models import load_model, load_processor
    from whisper_tune.transcribe.hf import transcribe_arrays

    model, processor = load_model(model_spec), load_processor(model_spec)
    terms = [t.written for t in TERMS]
    scores, per_term, examples = [], {t: [0, 0, 0, 0] for t in terms}, []
    for index, split in enumerate(("train", "heldout")):
        chosen = [c for c in clips if c.split == split]
        audio = [load_audio(folder / c.file) for c in chosen]
        hyps = [t.text for t in transcribe_arrays(model, processor, audio, batch_size=16)]
        refs = [c.text for c in chosen]
        counts = term_hits(refs, hyps, terms)
        for count in counts:
            per_term[count.term][2 * index : 2 * index + 2] = [count.said, count.hit]
        scores.append(SplitScore(split, len(chosen), sum(len(a) for a in audio) / 16000, word_error_rate(refs, hyps),
                                 sum(c.said for c in counts), sum(c.hit for c in counts)))
        if split == "heldout":
            examples = list(zip(refs, hyps, strict=True))[:: max(1, len(refs) // 6)][:6]
    return Measurement(model_spec, scores, {t: tuple(v) for t, v in per_term.items()}, examples)


def word_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    """Corpus WER after Whisper's English normalizer (edits / reference words)."""
    from whisper_normalizer.english import EnglishTextNormalizer

    normalize = EnglishTextNormalizer()
    edits = words = 0
    for ref, hyp in zip(references, hypotheses, strict=True):
        ref_words, hyp_words = normalize(ref).split(), normalize(hyp).split()
        edits += _edit_distance(ref_words, hyp_words)
        words += len(ref_words)
    return edits / words if words else 0.0


def _edit_distance(a: Sequence[str], b: Sequence[str]) -> int:
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        prev, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (x != y))
    return row[-1]


# --- README ------------------------------------------------------------------------------


#: README.md from this heading to the end is written by hand and kept when the script rewrites
#: the file (measurements made with other tools, such as the fine-tuning check).
NOTES_HEADING = "## Notes"


def kept_notes(readme: Path) -> str:
    """The hand-written notes section of an existing README, or ''."""
    if not readme.is_file():
        return ""
    text = readme.read_text(encoding="utf-8")
    start = text.find(f"\n{NOTES_HEADING}\n")
    return text[start + 1 :].rstrip() + "\n" if start >= 0 else ""


def readme_text(
    clips: Sequence[Clip], folder: Path, espeak: str, result: Measurement | None, notes: str = ""
) -> str:
    sizes = sum(p.stat().st_size for p in folder.rglob("*.ogg"))
    train = [c for c in clips if c.split == "train"]
    heldout = [c for c in clips if c.split == "heldout"]
    lines = [
        "# Demo dataset: DevOps dictation",
        "",
        "Synthetic speech full of cloud/DevOps terms that stock Whisper tiny.en gets wrong",
        "(it hears \"Kubernetes\" as \"puberty\"). `whisper-tune demo` fine-tunes on `train/` and",
        "reports WER and the per-term hit rate on `heldout/` before and after.",
        "",
        "## Contents",
        f"- `train/`: {len(train)} clips = {len(TRAIN_SENTENCES)} sentences x {len(TRAIN_VOICES)} voices "
        f"({', '.join(TRAIN_VOICES)}).",
        f"- `heldout/`: {len(heldout)} clips = {len(HELDOUT_SENTENCES)} NEW sentences x "
        f"{len(HELDOUT_VOICES)} voices never used for training ({', '.join(HELDOUT_VOICES)}). "
        "Evaluation only: never train on it.",
        "- Each clip is Ogg Vorbis, 16 kHz mono, with a `.txt` transcript of the same stem "
        "(normal casing and punctuation).",
        f"- `terms.txt`: the {len(TERMS)} domain terms; every one occurs in both splits.",
        "- `clips.csv`: file, split, sentence id, espeak-ng voice, speed (words per minute), "
        "pitch and text of every clip.",
        f"- Total audio size {sizes / 1e6:.2f} MB.",
        "",
        "## Provenance",
        f"Generated by `scripts/make_demo_dataset.py` with {espeak}, seed {SEED}: speed "
        f"{SPEED_RANGE[0]}-{SPEED_RANGE[1]} wpm and pitch {PITCH_RANGE[0]}-{PITCH_RANGE[1]} per clip. "
        "Terms are spoken as engineers say them (`kubectl` as \"cube control\", `nginx` as "
        "\"engine x\", `PostgreSQL` as \"post gress Q L\"); the mapping is in the script.",
        "Re-running the script regenerates identical transcripts and `clips.csv`; the audio may "
        "differ slightly with another espeak-ng or libvorbis version.",
        "",
        "Licence: generated data, dedicated to the public domain (CC0 1.0). No recordings of "
        "people are included.",
        "",
        "## Use",
        "Each split folder is a plain audio + `.txt` folder, so `whisper-tune manifest build "
        "DATASET/train -o train.csv` (and the same for `heldout`) pairs it by name; "
        "`manifest build DATASET/clips.csv --path-column file --speaker-column voice` reads "
        "both splits with the voice as speaker. In Python: "
        "`whisper_tune.demo_data.demo_split_dir(\"train\")`, `demo_terms()`, and "
        "`term_hits(references, hypotheses, terms)` for the per-term hit rate.",
    ]
    if result is not None:
        lines += _measurement_lines(result)
    return "\n".join(lines) + "\n" + (f"\n{notes}" if notes else "")


def _measurement_lines(result: Measurement) -> list[str]:
    lines = [
        "",
        f"## Stock model ({result.model}, HF greedy, full 30 s context)",
        "",
        "| split | clips | audio s | WER % | term hits |",
        "|---|---|---|---|---|",
    ]
    for s in result.scores:
        lines.append(f"| {s.split} | {s.clips} | {s.seconds:.0f} | {100 * s.wer:.1f} | "
                     f"{s.term_hit}/{s.term_said} ({100 * s.term_hit / max(1, s.term_said):.0f} %) |")
    lines += ["", "| term | train hits | held-out hits |", "|---|---|---|"]
    for term, (t_said, t_hit, h_said, h_hit) in result.per_term.items():
        lines.append(f"| {term} | {t_hit}/{t_said} | {h_hit}/{h_said} |")
    lines += ["", "Held-out examples (reference -> stock tiny.en):", ""]
    lines += [f"- {ref} -> {hyp}" for ref, hyp in result.examples]
    return lines


# --- main --------------------------------------------------------------------------------


def espeak_version_line(executable: str) -> str:
    # "eSpeak NG text-to-speech: 1.51  Data at: ..." -> "espeak-ng 1.51"
    match = re.search(r"text-to-speech:\s*(\S+)", espeak_version(executable))
    return f"espeak-ng {match.group(1)}" if match else "espeak-ng"


def recorded_espeak(readme: Path, executable: str) -> str:
    """The espeak-ng version the README credits; measuring must not re-attribute the audio."""
    if readme.is_file():
        match = re.search(r"with (espeak-ng \S+),", readme.read_text(encoding="utf-8"))
        if match:
            return match.group(1)
    return espeak_version_line(executable)


def generate(out: Path, executable: str) -> list[Clip]:
    from whisper_tune.fileio import atomic_directory, atomic_write_text

    espeak = espeak_version_line(executable)  # a clear error first if espeak-ng is missing
    clips = plan_clips()
    check_plan(clips)
    check_voices(TRAIN_VOICES + HELDOUT_VOICES, executable)
    with atomic_directory(out) as staging:
        durations = synthesize_all(clips, staging, executable, previous=out if out.is_dir() else None)
        atomic_write_text(staging / "terms.txt", "".join(f"{t.written}\n" for t in TERMS))
        write_clip_table(clips, staging / "clips.csv")
        atomic_write_text(staging / "README.md", readme_text(clips, staging, espeak, None))
    log.info("%d clips, %.1f-%.1f s, %.0f s in all", len(clips), min(durations), max(durations), sum(durations))
    return clips


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"dataset folder (default {DEFAULT_OUT})")
    parser.add_argument("--espeak", default="espeak-ng", help="espeak-ng executable (default: espeak-ng on PATH)")
    parser.add_argument("--model", default="embedded:tiny.en", help="stock model to measure (default embedded:tiny.en)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-measure", action="store_true", help="generate only; README gets no WER table")
    mode.add_argument("--measure-only", action="store_true", help="measure the existing dataset, rewrite README.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse_args(argv)
    from whisper_tune.errors import WhisperTuneError
    from whisper_tune.fileio import atomic_write_text

    notes = kept_notes(args.out / "README.md")
    try:
        clips = read_clip_table(args.out / "clips.csv") if args.measure_only else generate(args.out, args.espeak)
        result = None if args.no_measure else measure(args.out, clips, args.model)
        readme = readme_text(clips, args.out, recorded_espeak(args.out / "README.md", args.espeak), result,
                             notes)
    except WhisperTuneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    atomic_write_text(args.out / "README.md", readme)
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {len(clips)} clips, {size / 1e6:.2f} MB")
    if size > SIZE_BUDGET_BYTES:
        print(f"warning: over the {SIZE_BUDGET_BYTES / 1e6:.1f} MB budget", file=sys.stderr)
    if result is not None:
        print("\n".join(_measurement_lines(result)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
