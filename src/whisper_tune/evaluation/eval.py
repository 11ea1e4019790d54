"""``evaluate``: WER, CER and repetition loops of a model on a manifest, with HF or whisper.cpp.

Both backends decode the same way (greedy, no fallback, no timestamps, the same token cap)
and on the same encoder context, including FUTO's short dynamic one (the HF side runs the
shortened encoder, see :mod:`whisper_tune.models.short_encoder`), so their numbers compare.
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune.audio import load_audio
from whisper_tune.data.manifest import read_manifest
from whisper_tune.errors import ConfigError, DataError, FormatError
from whisper_tune.evaluation.contexts import contexts_for, parse_audio_ctx
from whisper_tune.evaluation.loops import detect_loop
from whisper_tune.evaluation.metrics import ErrorCounts, char_errors, total_errors, word_errors
from whisper_tune.fileio import write_report
from whisper_tune.formats.ggml import read_ggml
from whisper_tune.markdown import markdown_cell
from whisper_tune.models import load_model, load_processor
from whisper_tune.transcribe.types import DecodeOptions, Transcript
from whisper_tune.whisper_constants import is_multilingual, language_code
from whisper_tune.whispercpp import aligned_options, default_threads, transcribe_ggml
from whisper_tune.whispercpp.runtimes import current_runtime

log = logging.getLogger(__name__)

BACKENDS = ("hf", "whispercpp")


@dataclass(frozen=True)
class EvalClip:
    """One clip to score: 16 kHz mono samples and its reference transcript."""

    id: str
    audio: np.ndarray
    text: str
    language: str | None = None  # as the manifest gives it (scoring normalizes by it)
    #: The Whisper code to decode this clip in (None: the run's language, else detected);
    #: set by :func:`with_decode_languages` for a multilingual model.
    decode_language: str | None = None


@dataclass
class EvalRow:
    id: str
    reference: str
    hypothesis: str
    wer: float
    cer: float
    loop: bool
    loop_reasons: list[str]
    audio_ctx: int | None
    duration: float
    seconds: float
    words: ErrorCounts = field(repr=False, default_factory=ErrorCounts)
    chars: ErrorCounts = field(repr=False, default_factory=ErrorCounts)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["words"], data["chars"] = self.words.to_dict(), self.chars.to_dict()
        return data


@dataclass
class EvalReport:
    model: str
    backend: str
    audio_ctx: str
    rows: list[EvalRow]
    seconds: float  # wall time of decoding, model loading excluded
    threads: int | None = None  # whisper.cpp's thread count (its results depend on it); None for hf
    settings: dict[str, Any] = field(default_factory=dict)  # runtime and every decoding parameter

    @property
    def wer(self) -> float:
        return total_errors(r.words for r in self.rows).rate

    @property
    def cer(self) -> float:
        return total_errors(r.chars for r in self.rows).rate

    @property
    def loops(self) -> int:
        return sum(r.loop for r in self.rows)

    @property
    def audio_seconds(self) -> float:
        return sum(r.duration for r in self.rows)

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else 0.0

    def totals(self) -> dict[str, Any]:
        return {"clips": len(self.rows), "wer": self.wer, "cer": self.cer, "loops": self.loops,
                "audio_seconds": round(self.audio_seconds, 3), "seconds": round(self.seconds, 3),
                "real_time_factor": round(self.real_time_factor, 4)}

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "backend": self.backend, "audio_ctx": self.audio_ctx,
                "threads": self.threads, "settings": self.settings, "totals": self.totals(),
                "clips": [r.to_dict() for r in self.rows]}

    def to_markdown(self) -> str:
        t = self.totals()
        lines = [
            f"# Evaluation of {self.model}", "",
            f"Backend {self.backend}, audio context {self.audio_ctx}: WER {t['wer']:.2%}, CER {t['cer']:.2%}, "
            f"{t['loops']} loop(s) in {t['clips']} clips; {t['seconds']:.1f} s for {t['audio_seconds']:.1f} s of "
            f"audio (RTF {t['real_time_factor']:.3f})"
            + (f"; whisper.cpp on {self.threads} thread(s)." if self.threads else "."), "",
            "Settings: " + ", ".join(f"{k}={v!r}" for k, v in self.settings.items()), "",
            "| id | ctx | WER | CER | loop | reference | hypothesis |", "|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(f"| {markdown_cell(r.id)} | {r.audio_ctx or 'full'} | {r.wer:.1%} | {r.cer:.1%} | "
                         f"{'yes' if r.loop else ''} | {markdown_cell(r.reference)} | {markdown_cell(r.hypothesis)} |")
        return "\n".join(lines) + "\n"

    def write(self, report_dir: str | os.PathLike[str], stem: str = "eval") -> tuple[Path, Path]:
        return write_report(report_dir, stem, self.to_dict(), self.to_markdown())


def load_clips(manifest: str | os.PathLike[str], limit: int | None = None) -> list[EvalClip]:
    """Clips of a manifest (see :mod:`whisper_tune.data.manifest`), audio decoded to 16 kHz mono."""
    rows = read_manifest(manifest)
    if not rows:
        raise DataError(f"{manifest}: the manifest lists no clips")
    rows = rows[:limit] if limit else rows
    return [EvalClip(row.id, load_audio(row.audio), row.text, row.language) for row in rows]


def evaluate(
    model_spec: str | os.PathLike[str],
    manifest: str | os.PathLike[str] | Sequence[EvalClip],
    backend: str = "hf",
    audio_ctx: str | int | None = "full",
    options: DecodeOptions = DecodeOptions(),
    *,
    report_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    n_threads: int | None = None,
    hf_model: Any = None,
    hf_processor: Any = None,
    runtime: Any = None,
    flash_attn: bool = False,
) -> EvalReport:
    """Decode every clip of ``manifest`` and score it against its transcript.

    ``model_spec`` is any HF model spec for ``backend="hf"`` and a GGML file for
    ``"whispercpp"``; ``audio_ctx`` is full, futo, futo+N or a number (see
    :mod:`.contexts`). ``n_threads``: whisper.cpp's thread count (default: a fixed count for
    the machine, :func:`~whisper_tune.whispercpp.default_threads`; recorded in the report).
    ``hf_model``/``hf_processor`` reuse an already loaded model. ``runtime`` picks the
    whisper.cpp build (:mod:`whisper_tune.whispercpp.runtimes`; default: the current one).
    Writes ``eval.json`` and ``eval.md`` to ``report_dir`` when given.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    label = parse_audio_ctx(audio_ctx)
    clips = list(manifest) if not isinstance(manifest, (str, os.PathLike)) else load_clips(manifest)
    arrays = [c.audio for c in clips]
    contexts = contexts_for(arrays, label)
    started = time.perf_counter()
    threads = None
    settings: dict[str, Any] = {**options.to_dict(), "flash_attn": flash_attn}
    if backend == "whispercpp":
        threads = n_threads if n_threads is not None else default_threads()
        runtime = runtime or current_runtime()
        settings["runtime"] = runtime.to_dict()
        clips = _decode_in_manifest_languages(clips, options, _ggml_is_multilingual(model_spec), settings)
        languages = decode_languages(clips)
        transcripts = decode_whispercpp(model_spec, arrays, contexts, options, timeout=timeout,
                                        sources=[c.id for c in clips], n_threads=threads, runtime=runtime,
                                        flash_attn=flash_attn, languages=languages)
    else:
        model, processor = hf_model, hf_processor
        if model is None or processor is None:
            model, processor = load_model(model_spec), load_processor(model_spec)
            started = time.perf_counter()
        clips = _decode_in_manifest_languages(clips, options, is_multilingual(model.config.vocab_size), settings)
        transcripts = decode_hf(model, processor, arrays, contexts, options, sources=[c.id for c in clips],
                                languages=decode_languages(clips))
    seconds = time.perf_counter() - started
    report = EvalReport(str(model_spec), backend, label, score(clips, transcripts), seconds, threads, settings)
    if report_dir is not None:
        report.write(report_dir)
    return report


def _decode_in_manifest_languages(clips: list[EvalClip], options: DecodeOptions, multilingual: bool,
                                  settings: dict[str, Any]) -> list[EvalClip]:
    """:func:`with_decode_languages`, recording the choice as the report's language."""
    clips, described = with_decode_languages(clips, options, multilingual)
    if described is not None:
        settings["language"] = described  # options.language is None here
    return clips


def _ggml_is_multilingual(model_path: str | os.PathLike[str]) -> bool:
    """From the file's header; a file that cannot be read is left to the decoder to refuse."""
    try:
        return is_multilingual(read_ggml(model_path).hparams.n_vocab)
    except (OSError, FormatError):
        return False


def decode_hf(model: Any, processor: Any, clips: Sequence[np.ndarray], contexts: Sequence[int | None],
              options: DecodeOptions, sources: Sequence[str] | None = None,
              languages: Sequence[str | None] | None = None) -> list[Transcript]:
    """HF decoding with whisper.cpp's token cap, so loops compare token for token."""
    from whisper_tune.transcribe.hf import transcribe_clip_contexts  # torch: eval on whisper.cpp needs none

    aligned = aligned_options(options, int(model.config.max_target_positions))
    return transcribe_clip_contexts(model, processor, clips, contexts, aligned, sources=sources, languages=languages)


def decode_whispercpp(model_path: str | os.PathLike[str], clips: Sequence[np.ndarray], contexts: Sequence[int | None],
                      options: DecodeOptions, *, timeout: float | None = None, sources: Sequence[str] | None = None,
                      suppress_tokens: Sequence[int] | None = None, n_threads: int | None = None,
                      runtime: Any = None, flash_attn: bool = False,
                      languages: Sequence[str | None] | None = None) -> list[Transcript]:
    return transcribe_ggml(model_path, clips, options, contexts, timeout, sources,
                           suppress_tokens=suppress_tokens, n_threads=n_threads, runtime=runtime,
                           flash_attn=flash_attn, languages=languages)


def with_decode_languages(clips: Sequence[EvalClip], options: DecodeOptions, multilingual: bool,
                          default: str | None = None) -> tuple[list[EvalClip], str | None]:
    """``clips`` set to decode each in its manifest language, and a description of that for
    the report; unchanged (and None) for an English-only model, when ``options.language`` is
    given (it holds for every clip) or when no clip names a language.

    A mixed-language manifest then decodes each clip in its own language, as it was trained,
    rather than in one language for all or in whatever each decoder detects. A clip without
    a language gets ``default`` (e.g. the reference's generation_config language), else is
    detected.
    """
    if not multilingual or options.language or not any(clip.language for clip in clips):
        return list(clips), None
    chosen = [language_code(clip.language) if clip.language else default for clip in clips]
    return [replace(clip, decode_language=code) for clip, code in zip(clips, chosen, strict=True)], \
        describe_languages(chosen)


def decode_languages(clips: Sequence[EvalClip]) -> list[str | None] | None:
    """Each clip's decoding language for the decoders (None when no clip has one)."""
    languages = [clip.decode_language for clip in clips]
    return languages if any(languages) else None


def describe_languages(languages: Sequence[str | None]) -> str:
    """``"per clip, from the manifest: de 10, en 5"`` (clips left to detection counted as such)."""
    counts = collections.Counter(language or "detected" for language in languages)
    return "per clip, from the manifest: " + ", ".join(f"{code} {n}" for code, n in sorted(counts.items()))


def score(clips: Sequence[EvalClip], transcripts: Sequence[Transcript]) -> list[EvalRow]:
    """One scored row per clip (normalized WER and CER, loop flag)."""
    rows = []
    for clip, result in zip(clips, transcripts, strict=True):
        words = word_errors(clip.text, result.text, clip.language)
        chars = char_errors(clip.text, result.text, clip.language)
        loop = detect_loop(result.text, result.tokens, result.hit_token_cap)
        rows.append(EvalRow(clip.id, clip.text, result.text, words.rate, chars.rate, loop.is_loop,
                            list(loop.reasons), result.audio_ctx, result.duration, result.seconds, words, chars))
    return rows

