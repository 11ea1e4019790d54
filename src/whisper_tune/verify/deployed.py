"""``verify --as PRESET``: does the file work where it is deployed, on each whisper.cpp runtime?

The file is decoded as a client decodes it (a :class:`~whisper_tune.deploy.DeploymentPreset`:
beam size, audio context, thresholds, prompt...) by each runtime asked for (whisper.cpp
1.8.5, the 1.5 generation FUTO's apps vendor, or the user's whisper-cli), and the reference
model decodes the same clips with the same settings and whisper.cpp's beam search. Per
runtime the verdict fails when a clip loops, when a clip with speech comes back empty, or
when whisper.cpp's WER exceeds the reference's by more than ``max_wer_delta``. Clips too
short for a runtime (the 1.5 generation returns nothing under about 1 s) are named as such
and not counted, in the WER nor in the agreement counts. Every clip whose tokens differ from
the reference's is shown from the first differing token.

The overall verdict is the verdict of the runtimes the preset's client ships
(:attr:`~whisper_tune.deploy.DeploymentPreset.shipped_runtimes`: whisper.cpp 1.5 for FUTO's
apps): a runtime the client never runs is judged and reported in full, but as advice, so a
loop that only whisper.cpp 1.8.5 makes does not fail a file FUTO Keyboard decodes well. When
none of the shipped runtimes was run, the verdict is judged on those that were (a failure
there fails it: the conservative choice) and the report says how to run the shipped one. For
the user's whisper-cli the report names each preset parameter whisper-cli has no option for.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whisper_tune.deploy import RUNTIME_USES, DeploymentPreset, check_prompt
from whisper_tune.errors import FormatError, WhisperCppError
from whisper_tune.evaluation.eval import EvalClip, decode_hf
from whisper_tune.evaluation.loops import detect_loop
from whisper_tune.evaluation.metrics import ErrorCounts, word_errors
from whisper_tune.fileio import write_report
from whisper_tune.formats.ggml import read_ggml
from whisper_tune.markdown import markdown_cell
from whisper_tune.models import load_model, load_processor, resolve_model
from whisper_tune.transcribe.types import DecodeOptions, Transcript
from whisper_tune.verify.verify import VerifyReport, check_integrity
from whisper_tune.whisper_constants import SAMPLE_RATE
from whisper_tune.whispercpp.cli import WhisperCli
from whisper_tune.whispercpp.runner import transcribe_ggml
from whisper_tune.whispercpp.suppress import non_speech_ids

#: Deployed verdict threshold: whisper.cpp may be 5 WER points worse than the reference.
#: Wider than the greedy verdict's 2 points: beam search amplifies float differences (a
#: different beam can win), and the 1.5 generation's arithmetic differs from 1.8.5's.
DEFAULT_DEPLOYED_MAX_WER_DELTA = 0.05
#: Tokens of context shown on each side of a difference.
DIFF_TOKENS = 6
#: How to run each runtime a client ships, for the note when it was not run.
RUNTIME_OPTIONS: dict[str, str] = {
    "current": "--runtime current or --runtime both",
    "1.5": "--runtime 1.5 or --runtime both",
    "whisper-cli": "--whisper-cli PATH",
}

log = logging.getLogger(__name__)


@dataclass
class DeployedClip:
    id: str
    duration: float
    audio_ctx: int | None
    text: str
    reference_text: str  # the reference model's output
    transcript: str
    same_tokens: bool
    loop: bool
    empty: bool  # no text although the transcript has words
    too_short: bool  # shorter than this runtime decodes at all
    difference: str  # from the first differing token, both sides; "" when the same

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class RuntimeVerdict:
    runtime: dict[str, Any]
    passed: bool
    reason: str
    wer: float | None = None
    reference_wer: float | None = None
    loops: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    too_short: list[str] = field(default_factory=list)
    clips_decoded: int = 0  # clips not too short for this runtime: the denominator of the counts below
    same_text: int = 0  # of clips_decoded
    same_tokens: int | None = 0  # of clips_decoded; None for whisper-cli, which prints text only
    advisory: bool = False  # True: the preset's client does not ship this runtime; it does not decide
    role: str = ""  # why it decides the verdict or not, in words
    unsettable: list[str] = field(default_factory=list)  # whisper-cli: preset parameters it cannot be given
    seconds: float = 0.0
    clips: list[DeployedClip] = field(default_factory=list)

    def agreement(self) -> str:
        """'same text as the reference on 34 of 34 clips this runtime decodes (9 too short ...)'."""
        total = self.clips_decoded
        where = "clips this runtime decodes" if self.too_short else "clips"
        text = f"same text as the reference on {self.same_text} of {total} {where}"
        if self.too_short:
            text += f" ({len(self.too_short)} too short for it, not counted)"
        if self.same_tokens is None:
            return text + "; tokens not compared (whisper-cli prints text only)"
        return text + f"; same tokens on {self.same_tokens} of {total}"

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "clips"}
        data["agreement"] = self.agreement()
        data["clips"] = [c.to_dict() for c in self.clips]
        return data


@dataclass
class DeployedReport:
    ggml_file: Path
    reference: str
    preset: dict[str, Any]
    parameters: dict[str, Any]
    max_wer_delta: float
    passed: bool = False
    reason: str = ""
    runtimes: list[RuntimeVerdict] = field(default_factory=list)
    deciding_runtimes: list[str] = field(default_factory=list)  # names of the runtimes whose verdicts decide
    shipped_runtime_run: bool = False  # a runtime the client ships was among those run
    note: str = ""  # when it was not: the verdict stands in for it, and how to run it
    family: str = ""  # what the file's header says it is, as inspect names it ("" when unreadable)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"ggml_file": str(self.ggml_file), "reference": self.reference, "preset": self.preset,
                "parameters": self.parameters, "max_wer_delta": self.max_wer_delta, "passed": self.passed,
                "reason": self.reason, "deciding_runtimes": self.deciding_runtimes,
                "shipped_runtime_run": self.shipped_runtime_run, "note": self.note, "family": self.family,
                "runtimes": [r.to_dict() for r in self.runtimes], "seconds": round(self.seconds, 1)}

    def to_markdown(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        lines = [f"# {self.ggml_file.name} as deployed ({self.preset['name']}): {verdict}", "",
                 f"- reference model: {self.reference}"]
        lines += [f"- family: {self.family}"] if self.family else []
        lines.append(f"- verdict: {verdict} ({self.reason})")
        if self.deciding_runtimes:
            advisory = [r.runtime["name"] for r in self.runtimes if r.advisory]
            lines.append(f"- decided by: {', '.join(self.deciding_runtimes)}"
                         + (f"; advisory only: {', '.join(advisory)}" if advisory else ""))
        if self.note:
            lines.append(f"- **{self.note}**")
        lines += [f"- preset: {self.preset['description']}",
                  "- parameters: " + ", ".join(f"{k}={v!r}" for k, v in self.parameters.items())]
        for verdict_ in self.runtimes:
            lines += _runtime_markdown(verdict_)
        return "\n".join(lines) + "\n"

    def write(self, report_dir: str | os.PathLike[str]) -> tuple[Path, Path]:
        return write_report(report_dir, "verify-deployed", self.to_dict(), self.to_markdown())


def _runtime_markdown(verdict: RuntimeVerdict) -> list[str]:
    runtime = verdict.runtime
    role = f" ({verdict.role})" if verdict.role else ""
    lines = ["", f"## {runtime['name']}: whisper.cpp {runtime['whisper_cpp']} ({runtime['binding']}): "
                 f"{'PASS' if verdict.passed else 'FAIL'}{role}", "", verdict.reason, ""]
    if verdict.wer is not None:
        lines.append(f"- WER {verdict.wer:.1%} (reference {verdict.reference_wer:.1%}); {verdict.agreement()}")
    lines += [f"- {line}" for line in verdict.unsettable]
    for label, ids in (("looped", verdict.loops), ("returned empty", verdict.empty),
                       ("too short for this runtime (not counted)", verdict.too_short)):
        if ids:
            lines.append(f"- {label}: {', '.join(ids)}")
    differing = [c for c in verdict.clips if c.difference]
    if differing:
        lines += ["", "| id | ctx | differs from the reference | transcript |", "|---|---|---|---|"]
        lines += [f"| {markdown_cell(c.id)} | {c.audio_ctx or 'full'} | {markdown_cell(c.difference)} | "
                  f"{markdown_cell(c.transcript)} |" for c in differing]
    return lines


def verify_deployed(
    ggml_file: str | os.PathLike[str],
    reference_spec: str | os.PathLike[str],
    clips: Sequence[EvalClip],
    preset: DeploymentPreset,
    runtimes: Sequence[Any],
    *,
    prompt: str = "",
    beam_size: int | None = None,
    language: str | None = None,
    max_wer_delta: float = DEFAULT_DEPLOYED_MAX_WER_DELTA,
    report_dir: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    hf_model: Any = None,
    hf_processor: Any = None,
) -> DeployedReport:
    """Verify ``ggml_file`` as ``preset`` decodes it, on each of ``runtimes``.

    ``runtimes`` holds :class:`~whisper_tune.whispercpp.runtimes.Runtime` objects or a
    :class:`~whisper_tune.whispercpp.cli.WhisperCli`. Raises only for bad input.
    """
    started = time.perf_counter()
    path = Path(ggml_file)
    if not path.is_file():
        raise FormatError(f"{path}: no such file; give the GGML .bin file to verify")
    resolved = resolve_model(str(reference_spec))
    check = VerifyReport(path.resolve(), str(reference_spec), False, "", "integrity", max_wer_delta)
    report = DeployedReport(path.resolve(), str(reference_spec), preset.to_dict(), {}, max_wer_delta)
    integrity_ok = check_integrity(path, resolved.path, check)
    report.family = check.family
    if not integrity_ok:
        report.reason = check.reason
        return _finish(report, started, report_dir)
    vocab = read_ggml(path).vocab
    if prompt:
        check_prompt(prompt, vocab)
    options = preset.options(prompt, sorted(non_speech_ids(vocab)), beam_size, language)
    arrays = [c.audio for c in clips]
    contexts, no_timestamps = preset.contexts(arrays), preset.no_timestamps(arrays)
    report.parameters = _parameters(preset, options)
    model = hf_model if hf_model is not None else load_model(reference_spec)
    processor = hf_processor if hf_processor is not None else load_processor(reference_spec)
    reference = decode_hf(model, processor, arrays, contexts, options, sources=[c.id for c in clips])
    for runtime in runtimes:
        verdict = _judge_runtime(path, clips, runtime, preset, options, contexts, no_timestamps, reference,
                                 processor, max_wer_delta, timeout)
        if isinstance(runtime, WhisperCli):
            verdict.unsettable = [fixed.describe() for fixed in runtime.unsettable(report.parameters)]
        report.runtimes.append(verdict)
    _decide_overall(report, preset)
    return _finish(report, started, report_dir)


def _decide_overall(report: DeployedReport, preset: DeploymentPreset) -> None:
    """The verdict of the runtimes the client ships; of all that ran when none of those did."""
    shipped = [r for r in report.runtimes if preset.ships(r.runtime["name"])]
    report.shipped_runtime_run = bool(shipped)
    deciding = shipped or list(report.runtimes)
    if not shipped and report.runtimes:
        ran = ", ".join(_runtime_label(r) for r in report.runtimes)
        how = " or ".join(RUNTIME_OPTIONS[name] for name in preset.shipped_runtimes)
        report.note = (f"{preset.shipped_description()}, which was not run: this verdict is judged on {ran} "
                       f"instead (a failure there fails it); run with {how} for the verdict as deployed")
        log.warning("%s", report.note)
    for verdict in report.runtimes:
        verdict.advisory = not any(verdict is d for d in deciding)
        verdict.role = _role(verdict, preset, report.shipped_runtime_run)
    report.deciding_runtimes = [r.runtime["name"] for r in deciding]
    failed = [r for r in deciding if not r.passed]
    report.passed = bool(deciding) and not failed
    if not deciding:
        report.reason = "no runtime was run"
    elif report.passed:
        report.reason = "passes on " + ", ".join(_runtime_label(r) for r in deciding)
    else:
        report.reason = "; ".join(f"{_runtime_label(r)}: {r.reason}" for r in failed)
    if shipped:
        report.reason = f"{preset.shipped_description()}: {report.reason}"
    advisory_failed = [r for r in report.runtimes if r.advisory and not r.passed]
    if advisory_failed:
        report.reason += "; advisory, not deciding: " + ", ".join(
            f"{_runtime_label(r)} fails" for r in advisory_failed)


def _runtime_label(verdict: RuntimeVerdict) -> str:
    """'current (whisper.cpp 1.8.5)'."""
    runtime = verdict.runtime
    if runtime["name"] == "whisper-cli":
        return f"whisper-cli ({runtime['binding'].removeprefix('whisper-cli at ')})"
    return f"{runtime['name']} (whisper.cpp {runtime['whisper_cpp']})"


def _role(verdict: RuntimeVerdict, preset: DeploymentPreset, shipped_run: bool) -> str:
    if not verdict.advisory and shipped_run:
        return f"decides the verdict: {preset.shipped_description()}"
    if not verdict.advisory:
        return f"decides the verdict in place of the runtime {preset.client} ships, which was not run"
    use = RUNTIME_USES.get(verdict.runtime["name"], "that runtime")
    return f"advisory: {preset.shipped_description()}; matters only if you also run this file in {use}"


def _finish(report: DeployedReport, started: float, report_dir: Any) -> DeployedReport:
    report.seconds = time.perf_counter() - started
    if report_dir is not None:
        report.write(report_dir)
    return report


def _parameters(preset: DeploymentPreset, options: DecodeOptions) -> dict[str, Any]:
    return {"beam_size": options.beam_size, "audio_ctx": preset.audio_ctx,
            "no_timestamps": ("always" if preset.timestamps_from_samples is None
                              else f"below {preset.timestamps_from_samples} samples"),
            "max_tokens": preset.max_tokens, "temperature": 0.0, "temperature_inc": options.temperature_inc,
            "entropy_thold": options.entropy_thold, "logprob_thold": options.logprob_thold,
            "no_speech_thold": options.no_speech_thold, "suppress_blank": options.suppress_blank,
            "suppress_nst": preset.suppress_non_speech, "flash_attn": preset.flash_attn,
            "no_context": True, "single_segment": True, "prompt": options.prompt, "language": options.language}


def _judge_runtime(path: Path, clips: Sequence[EvalClip], runtime: Any, preset: DeploymentPreset,
                   options: DecodeOptions, contexts: list[int | None], no_timestamps: list[bool],
                   reference: list[Transcript], processor: Any, max_wer_delta: float,
                   timeout: float | None) -> RuntimeVerdict:
    started = time.perf_counter()
    verdict = RuntimeVerdict(runtime.to_dict(), False, "")
    arrays = [c.audio for c in clips]
    try:
        if isinstance(runtime, WhisperCli):
            decoded = runtime.transcribe(path, arrays, options, contexts, no_timestamps,
                                         flash_attn=preset.flash_attn, timeout=timeout)
        else:  # flash attention exists in the current runtime only
            decoded = transcribe_ggml(path, arrays, options, contexts, timeout, runtime=runtime,
                                      no_timestamps=no_timestamps,
                                      flash_attn=preset.flash_attn and runtime.name == "current")
    except WhisperCppError as exc:
        verdict.reason = f"whisper.cpp failed: {exc}"
        return verdict
    verdict.seconds = time.perf_counter() - started
    counted, ref_counts = ErrorCounts(), ErrorCounts()
    for clip, out, ref, ctx in zip(clips, decoded, reference, contexts, strict=True):
        item = _clip(clip, out, ref, ctx, runtime, processor)
        verdict.clips.append(item)
        if item.too_short:
            verdict.too_short.append(clip.id)
            continue
        counted += word_errors(clip.text, out.text, clip.language)
        ref_counts += word_errors(clip.text, ref.text, clip.language)
        verdict.loops += [clip.id] if item.loop else []
        verdict.empty += [clip.id] if item.empty else []
    judged = [c for c in verdict.clips if not c.too_short]
    verdict.clips_decoded = len(judged)
    verdict.same_text = sum(c.text == c.reference_text for c in judged)
    verdict.same_tokens = sum(c.same_tokens for c in judged) if getattr(runtime, "has_tokens", True) else None
    verdict.wer, verdict.reference_wer = counted.rate, ref_counts.rate
    _decide(verdict, max_wer_delta)
    return verdict


def _clip(clip: EvalClip, out: Transcript, ref: Transcript, ctx: int | None, runtime: Any,
          processor: Any) -> DeployedClip:
    too_short = len(clip.audio) < getattr(runtime, "min_samples", 0) and not out.text.strip()
    same = out.tokens == ref.tokens if getattr(runtime, "has_tokens", True) else out.text == ref.text
    return DeployedClip(
        id=clip.id, duration=len(clip.audio) / SAMPLE_RATE, audio_ctx=ctx, text=out.text, reference_text=ref.text,
        transcript=clip.text, same_tokens=same,
        loop=detect_loop(out.text, out.tokens, out.hit_token_cap).is_loop,
        empty=not out.text.strip() and bool(clip.text.strip()) and not too_short,
        too_short=too_short,
        difference="" if same or too_short else _difference(out, ref, processor),
    )


def _difference(out: Transcript, ref: Transcript, processor: Any) -> str:
    """From the first differing token: 'at token N: whisper.cpp [...] / reference [...]'."""
    if not out.tokens and out.text:
        return f"whisper.cpp {out.text!r} / reference {ref.text!r}"
    at = next((i for i, (a, b) in enumerate(zip(out.tokens, ref.tokens, strict=False)) if a != b),
              min(len(out.tokens), len(ref.tokens)))

    def pieces(tokens: list[int]) -> str:
        shown = [processor.tokenizer.decode([t]) for t in tokens[at:at + DIFF_TOKENS]]
        return "[" + "|".join(shown) + ("|..." if len(tokens) > at + DIFF_TOKENS else "") + "]"

    return f"at token {at}: whisper.cpp {pieces(out.tokens)} / reference {pieces(ref.tokens)}"


def _decide(verdict: RuntimeVerdict, max_wer_delta: float) -> None:
    if verdict.clips and not verdict.clips_decoded:
        verdict.passed = False
        verdict.reason = ("every clip is too short for this runtime (it returns no text under 100 mel frames, "
                          "about 1 s): nothing to judge it on; give longer clips")
        return
    delta = (verdict.wer or 0.0) - (verdict.reference_wer or 0.0)
    problems = []
    if verdict.loops:
        problems.append(f"{len(verdict.loops)} clip(s) loop ({', '.join(verdict.loops)})")
    if verdict.empty:
        problems.append(f"{len(verdict.empty)} clip(s) with speech come back empty ({', '.join(verdict.empty)})")
    if delta > max_wer_delta + 1e-12:
        problems.append(f"WER {verdict.wer:.1%} exceeds the reference's {verdict.reference_wer:.1%} by more than "
                        f"{max_wer_delta:.1%}")
    verdict.passed = not problems
    verdict.reason = "; ".join(problems) if problems else (
        f"no loops, no empty results, WER {verdict.wer:.1%} against the reference's {verdict.reference_wer:.1%}")

