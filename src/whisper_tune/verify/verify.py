"""``verify``: does this GGML file transcribe like the model it was exported from?

In order, stopping at the first failure with a clear reason (never a crash of ours):

1. integrity, with the GGML module's own reader and validator (whisper.cpp itself accepts a
   truncated file or one without tensors, and aborts on an unknown ftype), the header
   against the reference model's config, and the vocabulary against its tokenizer;
2. whisper.cpp loads the file and decodes every clip, in a child process with a time limit;
3. the reference model decodes the same clips the same way (greedy, no fallback, no
   timestamps, same language, task, token cap and suppressed tokens). The language is the
   one asked for, else each clip's own from the manifest's language column (a mixed-language
   manifest decodes each clip as it was trained), else the one the reference's
   ``generation_config.json`` forces (a fine-tune in one language saves it there;
   transformers' ``generate()`` decodes in it too), else each decoder detects it;
4. verdict: the WER difference (whisper.cpp - reference, both against the transcripts; or
   whisper.cpp against the reference's output when there are no transcripts) is at most
   ``max_wer_delta``.

``short_audio=True`` also decodes each clip with FUTO's dynamic contexts (see
:mod:`whisper_tune.evaluation.contexts`) and gives a separate verdict for FUTO's apps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from whisper_tune.audio import load_audio
from whisper_tune.errors import DataError, ExportError, FormatError, ModelSourceError
from whisper_tune.evaluation.contexts import FUTO_DEPLOYED, SHORT_AUDIO_SWEEP, contexts_for
from whisper_tune.evaluation.eval import (
    EvalClip,
    decode_hf,
    decode_languages,
    decode_whispercpp,
    load_clips,
    with_decode_languages,
)
from whisper_tune.evaluation.loops import detect_loop
from whisper_tune.evaluation.metrics import ErrorCounts, corpus_errors, word_errors
from whisper_tune.export.exporter import hparams_from_config
from whisper_tune.export.vocab import load_vocab
from whisper_tune.fileio import read_json_object, write_report
from whisper_tune.formats.ggml import read_ggml, validate_ggml
from whisper_tune.markdown import markdown_cell
from whisper_tune.models import load_model, load_processor, resolve_model
from whisper_tune.transcribe.types import DecodeOptions, Transcript
from whisper_tune.whisper_constants import family_name, language_code
from whisper_tune.whispercpp import WhisperCppRunError, default_threads
from whisper_tune.whispercpp.runner import PendingTranscripts, start_transcribe_ggml, usable_cpus

log = logging.getLogger(__name__)

#: Default pass threshold: 2 WER points. On the 43 real clips, tiny.en's f16 and q8_0 exports
#: gave the reference's tokens on 41 clips (the other two differ in a capital and a full stop,
#: which normalized WER ignores: delta 0.0), so a sound export has room for a fine-tune's
#: float differences, while a damaged file is off by tens of points (see the tests).
DEFAULT_MAX_WER_DELTA = 0.02
#: A short-audio context "blows up" when its WER exceeds the full context's by this much.
SHORT_AUDIO_MAX_WER_RISE = 0.10


@dataclass
class ClipComparison:
    id: str
    reference_text: str | None  # the transcript, if any
    ggml_text: str
    model_text: str
    identical: bool  # same tokens
    ggml_wer: float | None
    model_wer: float | None
    cross_wer: float  # whisper.cpp against the reference model's output
    ggml_loop: bool
    seconds: float  # whisper.cpp decoding time
    duration: float
    ggml_tokens: list[int] = field(default_factory=list)  # whisper.cpp's text tokens
    model_tokens: list[int] = field(default_factory=list)  # the reference model's text tokens

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ShortAudioRow:
    audio_ctx: str
    wer: float  # against transcripts, or against the full-context output
    loops: int
    clips: int
    blow_up: bool
    deployed: bool  # a context FUTO's apps use

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class VerifyReport:
    ggml_file: Path
    reference: str
    passed: bool
    reason: str
    stage: str  # where it ended: integrity, whisper.cpp, compare
    max_wer_delta: float
    file_size: int = 0
    family: str = ""  # what the file's header says it is, as inspect names it ("" when unreadable)
    language: str = ""  # the language both decoded in, and where it came from
    audio_ctx: int | None = None  # the encoder's context in positions (None: the full 30 s)
    problems: list[str] = field(default_factory=list)
    clips: list[ClipComparison] = field(default_factory=list)
    ggml_wer: float | None = None
    model_wer: float | None = None
    cross_wer: float | None = None
    exact_match_rate: float | None = None
    real_time_factor: float | None = None
    whispercpp_log: str = ""
    short_audio: list[ShortAudioRow] = field(default_factory=list)
    short_audio_safe: bool | None = None
    short_audio_reason: str = ""
    threads: int = 0  # whisper.cpp's thread count: its results depend on it
    seconds: float = 0.0

    @property
    def wer_delta(self) -> float | None:
        if self.ggml_wer is not None and self.model_wer is not None:
            return self.ggml_wer - self.model_wer
        return self.cross_wer

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k not in ("clips", "short_audio")}
        data["ggml_file"] = str(self.ggml_file)
        data["wer_delta"] = self.wer_delta
        data["clips"] = [c.to_dict() for c in self.clips]
        data["short_audio"] = [r.to_dict() for r in self.short_audio]
        return data

    def to_markdown(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"# Verification of {self.ggml_file.name}: {verdict}", "",
                 f"- reference model: {self.reference}", f"- file size: {self.file_size / 1e6:.1f} MB"]
        lines += [f"- family: {self.family}"] if self.family else []
        lines += [f"- language: {self.language}"] if self.language else []
        lines += [f"- encoder context: {self.audio_ctx} positions"] if self.audio_ctx is not None else []
        lines += [f"- whisper.cpp threads: {self.threads}", f"- verdict: {verdict} ({self.reason})"]
        lines += [f"- problem: {p}" for p in self.problems]
        if self.clips:
            lines += [f"- whisper.cpp WER: {_pct(self.ggml_wer)}, reference WER: {_pct(self.model_wer)}, "
                      f"whisper.cpp vs reference: {_pct(self.cross_wer)} (threshold {self.max_wer_delta:.1%})",
                      f"- identical tokens: {_pct(self.exact_match_rate)} of {len(self.clips)} clips",
                      f"- whisper.cpp real-time factor: {self.real_time_factor:.3f}", "",
                      "| id | same | whisper.cpp | reference model | transcript |", "|---|---|---|---|---|"]
            lines += [f"| {markdown_cell(c.id)} | {'yes' if c.identical else 'no'} | {markdown_cell(c.ggml_text)} | "
                      f"{markdown_cell(c.model_text)} | {markdown_cell(c.reference_text or '')} |" for c in self.clips]
        if self.short_audio:
            safe = "safe for FUTO Voice Input" if self.short_audio_safe else "NOT safe for FUTO Voice Input"
            lines += ["", f"## Short audio: {safe}", "", self.short_audio_reason, "",
                      "| audio_ctx | WER | loops | FUTO uses it |", "|---|---|---|---|"]
            lines += [f"| {r.audio_ctx} | {r.wer:.1%} | {r.loops}/{r.clips} | {'yes' if r.deployed else ''} |"
                      for r in self.short_audio]
        if self.whispercpp_log and not self.passed:
            lines += ["", "## whisper.cpp log (tail)", "", "```", self.whispercpp_log, "```"]
        return "\n".join(lines) + "\n"

    def write(self, report_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
        return write_report(report_dir, "verify", self.to_dict(), self.to_markdown())


def verify(
    ggml_file: str | os.PathLike[str],
    reference_spec: str | os.PathLike[str],
    clips: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[EvalClip],
    max_wer_delta: float = DEFAULT_MAX_WER_DELTA,
    report_dir: str | os.PathLike[str] | None = None,
    short_audio: bool = False,
    timeout: float | None = None,
    options: DecodeOptions = DecodeOptions(),
    *,
    n_threads: int | None = None,
    hf_model: Any = None,
    hf_processor: Any = None,
) -> VerifyReport:
    """Verify ``ggml_file`` against ``reference_spec`` on ``clips`` (a manifest, audio files
    or :class:`EvalClip` objects). Returns the report (``passed`` says the verdict); raises
    for bad input (missing file, unreadable audio or manifest, unknown model spec), and lets
    a bug of ours propagate rather than call it a failed verdict. ``n_threads`` is
    whisper.cpp's thread count (default: fixed for the machine, see
    :func:`~whisper_tune.whispercpp.default_threads`), recorded in the report.
    ``options.audio_ctx`` shortens both encoders' context (whisper.cpp's ``audio_ctx``);
    None, the default, is the full 30 s.
    """
    return verify_all([VerifyTarget(ggml_file, short_audio, report_dir)], reference_spec, clips, max_wer_delta,
                      timeout, options, n_threads=n_threads, hf_model=hf_model, hf_processor=hf_processor)[0]


@dataclass(frozen=True)
class VerifyTarget:
    """One GGML file for :func:`verify_all`: where its report goes, and whether to run the
    short-audio sweep on it."""

    ggml_file: str | os.PathLike[str]
    short_audio: bool = False
    report_dir: str | os.PathLike[str] | None = None


def verify_all(
    targets: Sequence[VerifyTarget],
    reference_spec: str | os.PathLike[str],
    clips: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | Sequence[EvalClip],
    max_wer_delta: float = DEFAULT_MAX_WER_DELTA,
    timeout: float | None = None,
    options: DecodeOptions = DecodeOptions(),
    *,
    n_threads: int | None = None,
    hf_model: Any = None,
    hf_processor: Any = None,
) -> list[VerifyReport]:
    """:func:`verify` for several exports of one model (f16, q8_0, ...), in one pass.

    Each file gets exactly the report :func:`verify` gives it alone: whisper.cpp decodes
    every clip afresh at a fixed thread count, so what runs beside it changes no token. The
    work is shared and overlapped instead of repeated: the reference model decodes the clips
    once for all files, in this process, while the files' whisper.cpp workers run beside it
    (as many at a time as the cores allow at ``n_threads`` each; the reference decode gets
    the cores they leave). Reports come back in the order of ``targets``.
    """
    started = time.perf_counter()
    paths = [Path(t.ggml_file) for t in targets]
    for path in paths:
        if not path.is_file():
            raise FormatError(f"{path}: no such file; give the GGML .bin file to verify")
    if max_wer_delta < 0:
        raise DataError(f"max_wer_delta is {max_wer_delta}; expected 0 or more (0.02 = 2 WER points)")
    if options.audio_ctx is not None and any(t.short_audio for t in targets):
        raise DataError(f"short_audio compares FUTO's contexts with the full one, but options.audio_ctx is "
                        f"{options.audio_ctx}; leave audio_ctx unset (None) with short_audio")
    eval_clips = _as_clips(clips)

    resolved = resolve_model(str(reference_spec))  # bad spec: an input error before any work
    threads = n_threads if n_threads is not None else default_threads()
    reports = [VerifyReport(path.resolve(), str(reference_spec), False, "", "integrity", max_wer_delta,
                            file_size=path.stat().st_size, threads=threads) for path in paths]
    try:
        jobs = [_Job(path, report, target.short_audio)
                for path, report, target in zip(paths, reports, targets, strict=True)
                if check_integrity(path, resolved.path, report)]
        if jobs:
            _compare_all(jobs, reference_spec, eval_clips, options, timeout, hf_model, hf_processor, started)
    finally:
        for target, report in zip(targets, reports, strict=True):
            report.seconds = report.seconds or time.perf_counter() - started
            if target.report_dir is not None:
                report.write(target.report_dir)
    return reports


# --- stages ------------------------------------------------------------------------------


def check_integrity(path: Path, reference_dir: Path, report: VerifyReport) -> bool:
    """The file's structure, types and header against the reference's config; on a problem,
    ``report`` gets the reason (and the problems) and the answer is False."""
    try:
        ggml = read_ggml(path)
    except FormatError as exc:
        report.reason = f"not a readable GGML model file: {exc}"
        return False
    hp = ggml.hparams
    report.family = family_name(hp.n_audio_layer, hp.n_text_layer, hp.n_audio_state, hp.n_mels, hp.n_vocab)
    errors = [p for p in validate_ggml(ggml) if p.severity == "error"]
    if errors:
        report.problems = [p.message for p in errors]
        report.reason = (
            f"the file is damaged or not what whisper.cpp expects ({len(errors)} problem(s)): {errors[0].message}"
        )
        return False
    config = read_json_object(reference_dir / "config.json", ModelSourceError, "model config")
    try:
        expected = hparams_from_config(config, ggml.dtype or "f16", reference_dir / "config.json")
    except ExportError as exc:  # the reference itself has no whisper.cpp form: that is the verdict
        report.reason = f"the reference model cannot be compared: {exc}"
        return False
    mismatched = [name for name in expected.__dataclass_fields__ if name != "ftype"
                  and getattr(expected, name) != getattr(ggml.hparams, name)]
    if mismatched:
        report.problems = [f"{n} is {getattr(ggml.hparams, n)} in the file, {getattr(expected, n)} in the reference"
                           for n in mismatched]
        report.reason = f"the file is not an export of the reference model: {report.problems[0]}"
        return False
    return _vocabulary_matches(ggml.vocab, reference_dir, report)


def _vocabulary_matches(vocab: list[bytes], reference_dir: Path, report: VerifyReport) -> bool:
    """The file's token bytes against the reference's tokenizer: whisper.cpp turns tokens into
    text with the file's vocabulary, the reference with its tokenizer, so the same tokens
    would read differently."""
    try:
        expected = load_vocab(reference_dir)
    except ExportError as exc:
        report.reason = f"the reference model cannot be compared: {exc}"
        return False
    differing = [i for i, (mine, theirs) in enumerate(zip(vocab, expected, strict=False)) if mine != theirs]
    if len(vocab) != len(expected):
        report.problems.append(f"the file holds {len(vocab)} tokens, the reference's tokenizer {len(expected)}")
    if differing:
        first = differing[0]
        report.problems.append(f"{len(differing)} token(s) differ, the first is id {first}: {vocab[first]!r} in "
                               f"the file, {expected[first]!r} in the reference's tokenizer")
    if report.problems:
        report.reason = f"the file's vocabulary is not the reference's tokenizer: {report.problems[0]}"
        return False
    return True


@dataclass
class _Job:
    path: Path
    report: VerifyReport
    short_audio: bool
    pending: PendingTranscripts | None = None
    labels: tuple[str, ...] = ("full",)


def _compare_all(jobs: list[_Job], reference_spec: Any, clips: list[EvalClip], options: DecodeOptions,
                 timeout: float | None, hf_model: Any, hf_processor: Any, started: float) -> None:
    from whisper_tune.devices import torch_threads  # torch: imported by the stage that needs it

    model = hf_model if hf_model is not None else load_model(reference_spec)
    processor = hf_processor if hf_processor is not None else load_processor(reference_spec)
    options, clips = decoding_language(options, model.generation_config, jobs[0].report, clips)
    for job in jobs:  # one language for every file; each report records it and its source
        job.report.language = jobs[0].report.language
        # The encoder's context: the full 30 s unless options.audio_ctx shortens it (both decoders).
        job.report.audio_ctx = options.audio_ctx
    suppress = list(model.generation_config.suppress_tokens or [])
    threads = jobs[0].report.threads
    at_once = max(1, usable_cpus() // threads)
    with contextlib.ExitStack() as running:
        for job in jobs[:at_once]:
            _start(job, clips, options, timeout, suppress, running)
        busy = threads * min(at_once, len(jobs))
        with torch_threads(max(1, usable_cpus() - busy)):
            model_out = decode_hf(model, processor, [c.audio for c in clips], [options.audio_ctx] * len(clips),
                                  options, sources=[c.id for c in clips], languages=decode_languages(clips))
        for index, job in enumerate(jobs):
            decoded, error = _collect(job)
            if index + at_once < len(jobs):  # a worker's cores are free: start the next file
                _start(jobs[index + at_once], clips, options, timeout, suppress, running)
            _judge(job, clips, options, timeout, suppress, decoded, error, model_out)
            job.report.seconds = time.perf_counter() - started


def _start(job: _Job, clips: list[EvalClip], options: DecodeOptions, timeout: float | None, suppress: list[int],
           running: contextlib.ExitStack) -> None:
    """Start ``job``'s whisper.cpp worker: the full context, plus every short-audio context
    when asked (one process start and model load instead of one per context)."""
    arrays = [c.audio for c in clips]
    job.labels = ("full", *SHORT_AUDIO_SWEEP) if job.short_audio else ("full",)
    # "full" is the context verify judges: options.audio_ctx when set (then there is no sweep).
    contexts = [ctx for label in job.labels
                for ctx in ([options.audio_ctx] * len(arrays) if label == "full" else contexts_for(arrays, label))]
    job.report.stage = "whisper.cpp"
    languages = decode_languages(clips)
    job.pending = start_transcribe_ggml(
        job.path, arrays * len(job.labels), options, contexts,
        timeout * len(job.labels) if timeout is not None else None, [c.id for c in clips] * len(job.labels),
        suppress_tokens=suppress, n_threads=job.report.threads,
        languages=languages * len(job.labels) if languages is not None else None)
    running.callback(job.pending.cancel)  # an error or Ctrl-C elsewhere leaves no worker behind


def _collect(job: _Job) -> tuple[dict[str, list[Transcript]] | None, WhisperCppRunError | None]:
    """The job's transcripts per context label, or whisper.cpp's failure."""
    assert job.pending is not None
    try:
        out = job.pending.result()
    except WhisperCppRunError as exc:
        return None, exc
    n = len(out) // len(job.labels)
    return {label: out[i * n : (i + 1) * n] for i, label in enumerate(job.labels)}, None


def _judge(job: _Job, clips: list[EvalClip], options: DecodeOptions, timeout: float | None, suppress: list[int],
           decoded: dict[str, list[Transcript]] | None, error: WhisperCppRunError | None,
           model_out: list[Transcript]) -> None:
    report = job.report
    if error is not None and job.short_audio:
        # The sweep's one process failed: decode context by context, so that the failure is
        # reported exactly (which stage, which context) and a context that works still counts.
        log.info("decoding every context in one whisper.cpp process failed (%s); decoding context by context",
                 error)
        decoded, error = _decode_full_alone(job, clips, options, timeout, suppress)
    if error is not None or decoded is None:  # whisper.cpp crashed, aborted, hung or refused the file
        report.reason = str(error)
        report.whispercpp_log = error.log if error is not None else ""
        return
    ggml_out = decoded["full"]
    report.stage = "compare"
    _score(clips, ggml_out, model_out, report)
    delta = report.wer_delta or 0.0
    what = (
        "WER difference (whisper.cpp - reference)"
        if report.model_wer is not None
        else "WER of whisper.cpp against the reference's output"
    )
    report.passed = delta <= report.max_wer_delta + 1e-12
    report.reason = f"{what} {delta:+.1%} {'within' if report.passed else 'exceeds'} {report.max_wer_delta:.1%}"
    if job.short_audio:
        sweep = {label: out for label, out in decoded.items() if label != "full"}
        _short_audio(job.path, clips, options, timeout, suppress, ggml_out, report, sweep or None)


def decoding_language(options: DecodeOptions, generation_config: Any, report: VerifyReport,
                      clips: Sequence[EvalClip] = ()) -> tuple[DecodeOptions, list[EvalClip]]:
    """``options`` with the language to decode in and ``clips`` with each one's own (see the
    module's docstring); ``report`` records the choice and its source. Both decoders get the
    same language for a clip: left to each, two decoders may detect different languages on a
    short or unclear clip and then differ in every token.
    """
    multilingual = bool(getattr(generation_config, "is_multilingual", False)
                        or getattr(generation_config, "lang_to_id", None))
    if not multilingual:
        report.language = "en (English-only model)"
        return options, list(clips)
    if options.language:
        report.language = f"{options.language} (given)"
        return options, list(clips)
    configured = getattr(generation_config, "language", None)
    code = language_code(str(configured)) if configured else None
    per_clip, described = with_decode_languages(clips, options, True, default=code)
    if described is not None:
        unnamed = sum(not clip.language for clip in clips)
        fallback = f"; {unnamed} clip(s) without one: {code} (the reference's generation_config.json)" if (
            unnamed and code) else ""
        report.language = described + fallback
        return options, per_clip
    if code:
        report.language = f"{code} (the reference's generation_config.json)"
        return replace(options, language=code), per_clip
    report.language = "detected by each decoder (none given, none in the manifest or the reference's " \
                      "generation_config.json)"
    return options, per_clip


def _decode_full_alone(job: _Job, clips: list[EvalClip], options: DecodeOptions, timeout: float | None,
                       suppress: list[int]) -> tuple[dict[str, list[Transcript]] | None, WhisperCppRunError | None]:
    try:
        return {"full": decode_whispercpp(job.path, [c.audio for c in clips], [options.audio_ctx] * len(clips), options,
                                          timeout=timeout, sources=[c.id for c in clips], suppress_tokens=suppress,
                                          n_threads=job.report.threads, languages=decode_languages(clips))}, None
    except WhisperCppRunError as exc:
        return None, exc


def _score(
    clips: list[EvalClip], ggml_out: list[Transcript], model_out: list[Transcript], report: VerifyReport
) -> None:
    have_text = all(c.text.strip() for c in clips)
    g_total, m_total, x_total = ErrorCounts(), ErrorCounts(), ErrorCounts()
    for clip, g, m in zip(clips, ggml_out, model_out, strict=True):
        cross = word_errors(m.text, g.text, clip.language)
        x_total += cross
        g_wer = m_wer = None
        if have_text:
            g_counts, m_counts = (
                word_errors(clip.text, g.text, clip.language),
                word_errors(clip.text, m.text, clip.language),
            )
            g_total, m_total = g_total + g_counts, m_total + m_counts
            g_wer, m_wer = g_counts.rate, m_counts.rate
        loop = detect_loop(g.text, g.tokens, g.hit_token_cap).is_loop
        report.clips.append(ClipComparison(clip.id, clip.text or None, g.text, m.text, g.tokens == m.tokens,
                                           g_wer, m_wer, cross.rate, loop, g.seconds, g.duration,
                                           list(g.tokens), list(m.tokens)))
    report.cross_wer = x_total.rate
    if have_text:
        report.ggml_wer, report.model_wer = g_total.rate, m_total.rate
    report.exact_match_rate = sum(c.identical for c in report.clips) / len(report.clips)
    audio = sum(c.duration for c in report.clips)
    report.real_time_factor = sum(c.seconds for c in report.clips) / audio if audio else 0.0


def _short_audio(path: Path, clips: list[EvalClip], options: DecodeOptions, timeout: float | None,
                 suppress: list[int], full_out: list[Transcript], report: VerifyReport,
                 decoded: dict[str, list[Transcript]] | None = None) -> None:
    """FUTO's contexts with whisper.cpp: loops or a WER blow-up make the file unsafe there.

    ``decoded`` holds the sweep's transcripts when they were decoded already (per label).
    """
    arrays = [c.audio for c in clips]
    have_text = all(c.text.strip() for c in clips)
    references = [c.text if have_text else f.text for c, f in zip(clips, full_out, strict=True)]
    languages = [c.language for c in clips]
    base = corpus_errors(references, [f.text for f in full_out], languages).rate
    for label in SHORT_AUDIO_SWEEP:
        try:
            out = decoded[label] if decoded else decode_whispercpp(
                path, arrays, contexts_for(arrays, label), options, timeout=timeout, suppress_tokens=suppress,
                n_threads=report.threads, languages=decode_languages(clips))
        except WhisperCppRunError as exc:
            report.short_audio_safe = False
            report.short_audio_reason = f"whisper.cpp failed at audio_ctx {label}: {exc}"
            return
        counts = corpus_errors(references, [o.text for o in out], languages)
        loops = sum(detect_loop(o.text, o.tokens, o.hit_token_cap).is_loop for o in out)
        report.short_audio.append(ShortAudioRow(label, counts.rate, loops, len(out),
                                                counts.rate > base + SHORT_AUDIO_MAX_WER_RISE, label in FUTO_DEPLOYED))
    bad = [r for r in report.short_audio if r.deployed and (r.loops or r.blow_up)]
    report.short_audio_safe = not bad
    if bad:
        report.short_audio_reason = "; ".join(
            f"at {r.audio_ctx}: {r.loops} loop(s), WER {r.wer:.1%} against {base:.1%} at full context" for r in bad)
    else:
        report.short_audio_reason = (f"no loops and WER within {SHORT_AUDIO_MAX_WER_RISE:.0%} of the full context's "
                                     f"{base:.1%} at the contexts FUTO uses ({', '.join(FUTO_DEPLOYED)})")


# --- helpers -----------------------------------------------------------------------------


def _as_clips(clips: Any) -> list[EvalClip]:
    if isinstance(clips, (str, os.PathLike)):
        return load_clips(clips)
    items = list(clips)
    if not items:
        raise DataError("no clips to verify with; give a manifest or audio files")
    if all(isinstance(c, EvalClip) for c in items):
        return items
    result = []
    for item in items:
        audio_path = Path(item)
        transcript = audio_path.with_suffix(".txt")  # a transcript beside the audio is used if present
        text = transcript.read_text(encoding="utf-8").strip() if transcript.is_file() else ""
        result.append(EvalClip(audio_path.name, load_audio(audio_path), text, None))
    return result


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"

