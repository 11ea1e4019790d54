"""The user's own whisper-cli build as a runtime: same parameters, its text output read back.

whisper-cli (whisper.cpp's command-line tool, ``main`` in old builds) is run once per clip,
since each clip may have its own ``audio_ctx``; the clip is written as a 16-bit WAV file and
the text read from ``-otxt``'s output file. The parameters whisper-cli has flags for are
passed (beam size and best-of, audio context, no timestamps, prompt, threads, thresholds,
temperature increment or ``-nf``, non-speech suppression, flash attention on or off where
the build knows ``-nfa``/``-fa``); the others keep whisper-cli's own values
(:data:`FIXED_PARAMETERS`: whisper.cpp's examples/cli/cli.cpp never sets them, so they stay
at ``whisper_full_default_params``'s) and :meth:`WhisperCli.unsettable` names each one for
the report. whisper-cli prints text, not token ids, so comparisons with the reference are by
text.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune.errors import WhisperCppError
from whisper_tune.transcribe.types import DecodeOptions, Transcript
from whisper_tune.whisper_constants import SAMPLE_RATE
from whisper_tune.whispercpp.runner import default_threads

#: Options whose presence in ``--help`` identifies whisper-cli.
IDENTIFYING_OPTIONS = ("--audio-ctx", "--beam-size", "--no-timestamps", "--output-txt")
HELP_SECONDS = 20.0
SECONDS_PER_CLIP = 60.0
#: whisper_full parameters whisper-cli has no option for, and the value it always runs with
#: (whisper_full_default_params's, in whisper.cpp 1.5 to 1.8.5 alike). max_tokens 0 means no
#: per-segment limit: only whisper.cpp's 220-step limit applies.
FIXED_PARAMETERS: dict[str, object] = {"max_tokens": 0, "suppress_blank": True, "single_segment": False,
                                       "no_context": True}


@dataclass(frozen=True)
class FixedParameter:
    """A parameter a preset sets that whisper-cli cannot be given on its command line."""

    name: str
    wanted: object  # the preset's value
    used: object  # what whisper-cli runs with instead

    def describe(self) -> str:
        same = " (the same value)" if self.wanted == self.used else ""
        return (f"not settable through whisper-cli: {self.name}={self.wanted!r} (whisper-cli uses its default "
                f"{self.used!r}){same}")


@dataclass(frozen=True)
class WhisperCli:
    """A checked whisper-cli executable (build one with :func:`check_whisper_cli`)."""

    path: Path
    no_flash_attn_flag: bool  # knows -nfa (1.8: flash attention is on by default)
    flash_attn_flag: bool  # knows -fa
    suppress_nst_flag: bool  # knows -sns
    name: str = "whisper-cli"
    min_samples: int = 0
    has_tokens: bool = False

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "binding": f"whisper-cli at {self.path}", "whisper_cpp": "the user's build",
                "python": ""}

    def describe(self) -> str:
        return f"whisper-cli ({self.path})"

    def arguments(self, model: Path, audio: Path, out_prefix: Path, options: DecodeOptions, audio_ctx: int | None,
                  no_timestamps: bool, flash_attn: bool, threads: int) -> list[str]:
        """The command line for one clip."""
        beam = max(1, options.beam_size)
        args = [str(self.path), "-m", str(model), "-f", str(audio), "-otxt", "-of", str(out_prefix), "-np",
                "-t", str(threads), "-l", options.language or "en", "-bs", str(beam), "-bo", str(beam),
                "-ac", str(audio_ctx or 0),
                "-et", str(options.entropy_thold),
                "-lpt", str(-1e9 if options.logprob_thold is None else options.logprob_thold),
                "-nth", str(1.0 if options.no_speech_thold is None else options.no_speech_thold)]
        args += ["-tpi", str(options.temperature_inc)] if options.temperature_inc > 0 else ["-nf"]
        if no_timestamps:
            args.append("-nt")
        if options.prompt:
            args += ["--prompt", options.prompt]
        if options.suppress_tokens and self.suppress_nst_flag:
            args.append("-sns")
        if flash_attn and self.flash_attn_flag:
            args.append("-fa")
        elif not flash_attn and self.no_flash_attn_flag:
            args.append("-nfa")
        return args

    def unsettable(self, parameters: Mapping[str, object]) -> list[FixedParameter]:
        """Each of ``parameters`` (a deployed report's, see :mod:`whisper_tune.verify.deployed`)
        that this whisper-cli cannot be given, with the value it uses instead."""
        fixed = dict(FIXED_PARAMETERS)
        if not self.suppress_nst_flag:
            fixed["suppress_nst"] = False  # no -sns before whisper.cpp 1.7: symbols are not suppressed
        if parameters.get("flash_attn") and not self.flash_attn_flag:
            fixed["flash_attn"] = False  # flash attention came with -fa (whisper.cpp 1.6): none to turn on
        return [FixedParameter(name, parameters[name], used) for name, used in fixed.items() if name in parameters]

    def transcribe(self, model_path: Any, clips: Sequence[np.ndarray], options: DecodeOptions,
                   contexts: Sequence[int | None], no_timestamps: Sequence[bool], *, flash_attn: bool = False,
                   timeout: float | None = None) -> list[Transcript]:
        results = []
        with tempfile.TemporaryDirectory(prefix="whisper-tune-cli-") as tmp:
            for index, (clip, ctx, no_ts) in enumerate(zip(clips, contexts, no_timestamps, strict=True)):
                audio, prefix = Path(tmp) / f"clip{index}.wav", Path(tmp) / f"clip{index}"
                write_wav(audio, clip)
                args = self.arguments(Path(model_path), audio, prefix, options, ctx, no_ts, flash_attn,
                                      default_threads())
                seconds = _run(args, timeout or SECONDS_PER_CLIP, self.path)
                text = " ".join(line.strip() for line in prefix.with_suffix(".txt").read_text(
                    encoding="utf-8", errors="replace").splitlines() if line.strip())
                results.append(Transcript(text=text, duration=len(clip) / SAMPLE_RATE, seconds=seconds,
                                          audio_ctx=ctx, source=str(index)))
        return results


def check_whisper_cli(path: str | os.PathLike[str]) -> WhisperCli:
    """``path`` as a whisper-cli, after asking it for its options; WhisperCppError if it is not one."""
    exe = Path(path).expanduser()
    if not exe.is_file() or not os.access(exe, os.X_OK):
        raise WhisperCppError(f"{exe}: no such executable file; give the path of your whisper-cli build "
                              "(build/bin/whisper-cli in a whisper.cpp checkout)")
    try:
        done = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=HELP_SECONDS,
                              errors="replace", check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WhisperCppError(f"{exe}: could not run it with --help ({exc}); is it whisper.cpp's whisper-cli?") from exc
    usage = done.stdout + done.stderr
    missing = [option for option in IDENTIFYING_OPTIONS if option not in usage]
    if missing:
        raise WhisperCppError(f"{exe} is not whisper-cli: its --help does not list {', '.join(missing)}; give the "
                              "path of whisper.cpp's whisper-cli (build/bin/whisper-cli)")
    return WhisperCli(exe, "--no-flash-attn" in usage, "--flash-attn" in usage, "--suppress-nst" in usage)


def write_wav(path: Path, clip: np.ndarray) -> None:
    """16 kHz mono 16-bit PCM, what whisper-cli reads without ffmpeg."""
    pcm = (np.clip(np.asarray(clip, dtype=np.float32), -1.0, 1.0) * 32767.0).round().astype("<i2")
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(SAMPLE_RATE)
        handle.writeframes(pcm.tobytes())


def _run(args: list[str], timeout: float, exe: Path) -> float:
    started = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, text=True, errors="replace", timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WhisperCppError(f"{exe} did not finish within {timeout:.0f} s (killed)") from exc
    if done.returncode != 0:
        said = [line for line in done.stderr.splitlines() if line.strip()][-3:]
        raise WhisperCppError(f"{exe} exited with status {done.returncode}: {' | '.join(said)}")
    return time.perf_counter() - started
