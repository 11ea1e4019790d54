"""Running whisper.cpp on GGML files, safely: pywhispercpp 1.5.1 (whisper.cpp 1.8.5), or the
whisper.cpp 1.5 runtime of FUTO's generation (see :mod:`.runtimes`).

Every load and decode happens in a child process (:mod:`.worker`) with a time limit: a
crash (segfault after a failed load), an abort (GGML_ASSERT on an unknown ftype), a hang or
a failed load becomes a :class:`WhisperCppRunError` carrying whisper.cpp's own log, never a
crash of the caller. One child loads the model once and decodes all clips.

Decoding matches our HF decoder (:mod:`whisper_tune.transcribe.hf`) so that identical
weights give identical tokens: greedy (best_of 1) or beam search, temperature 0 without
fallback, no timestamps, no context, one segment, the same language and task, the same
token cap, blank suppression at the first step, and the reference model's suppress list
(see :mod:`.suppress`). whisper.cpp's "no speech" and entropy checks are disabled because
the HF side has no equivalent (they only decide about fallback, which is off).

Flash attention is off by default although whisper.cpp 1.8 turns it on: its flash path
runs cross-attention over ``audio_ctx`` rounded up to a multiple of 256 with no mask, so a
shortened context (FUTO's) also attends to up to 255 stale encoder rows, zeros in a fresh
state or the previous clip's. Measured with tiny.en: a clip at audio_ctx 290 decoded right
after a 7.7-s clip repeats that clip's last words ("in this regard, in this regard, ..."),
and whether a clip loops depends on the clip before it. FUTO's apps (their own whisper.cpp
of the 1.5 generation) use flash attention for the encoder's self-attention only; their
decoder's cross-attention reads exactly ``audio_ctx`` encoder rows, which is what 1.8.5
does with flash attention off. ``flash_attn=True`` reproduces whisper-cli's default.

The caller's :class:`DecodeOptions` may change the defaults above (an initial prompt, no
blank suppression, whisper.cpp's entropy, log-probability and no-speech thresholds,
temperature fallback, timestamps per clip): the deployment presets of
:mod:`whisper_tune.deploy` do.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from whisper_tune.audio import load_audio
from whisper_tune.errors import WhisperCppError
from whisper_tune.formats.ggml import read_ggml
from whisper_tune.transcribe.types import DecodeOptions, Transcript
from whisper_tune.whisper_constants import N_TEXT_CTX, SAMPLE_RATE
from whisper_tune.whispercpp.runtimes import Runtime, current_runtime
from whisper_tune.whispercpp.suppress import plan_suppression

log = logging.getLogger(__name__)

WORKER_SCRIPT = Path(__file__).resolve().with_name("worker.py")
#: whisper.cpp decodes at most n_text_ctx/2 - 4 steps per segment (220 for Whisper's 448).
STEP_LIMIT_MARGIN = 4
#: Seconds allowed for starting the child and loading the model, and per clip decoded.
LOAD_SECONDS = 60.0
SECONDS_PER_CLIP = 30.0
LOG_TAIL_LINES = 40


class WhisperCppRunError(WhisperCppError):
    """whisper.cpp crashed, aborted, hung or failed to load; ``log`` is its log tail."""

    def __init__(self, message: str, *, reason: str, log: str = "", clip_index: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason  # "load_failed" | "crashed" | "timeout" | "decode_failed"
        self.log = log
        self.clip_index = clip_index


@dataclass(frozen=True)
class LoadResult:
    """Outcome of :func:`probe_load`: did whisper.cpp load the file, and what did it say."""

    path: Path
    ok: bool
    reason: str = ""  # empty when ok; else a sentence
    seconds: float = 0.0
    log: str = ""
    model: dict[str, Any] = field(default_factory=dict)  # n_vocab, ftype, type... as whisper.cpp sees them

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "ok": self.ok, "reason": self.reason,
                "seconds": round(self.seconds, 3), "model": self.model, "log_tail": self.log}


#: Most threads whisper.cpp gets by default. More rarely helps a Whisper decode on a CPU, and
#: a fixed ceiling keeps a result reproducible from machine to machine of the same size.
MAX_DEFAULT_THREADS = 4


def default_threads() -> int:
    """Threads for whisper.cpp: half the cores this process may use, 1 to MAX_DEFAULT_THREADS.

    Fixed for a machine, never derived from its load: ggml's results can depend on the
    thread count (how it splits the work changes float rounding), and a count that followed
    the load made the same file verify at 24.0 % and then 24.5 % WER. Half the cores, because
    ggml's threads spin while they wait: given every core they crawl as soon as anything else
    runs (measured on 2 cores under load: 43 clips in 156 s on 1 thread, 434 s on 2). Give
    ``n_threads`` to choose another count; reports record the one used.
    """
    return max(1, min(usable_cpus() // 2, MAX_DEFAULT_THREADS))


def usable_cpus() -> int:
    """The cores this process may run on (its affinity, e.g. under taskset or a container)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def token_cap(options: DecodeOptions, n_text_ctx: int = N_TEXT_CTX) -> int:
    """The number of text tokens both backends stop at for ``options``.

    whisper.cpp stops a segment after n_text_ctx/2 - 4 steps whatever max_tokens says; the
    HF side must use the same cap for loops to compare token for token.
    """
    return max(2, min(int(options.max_tokens), n_text_ctx // 2 - STEP_LIMIT_MARGIN))


def aligned_options(options: DecodeOptions, n_text_ctx: int = N_TEXT_CTX) -> DecodeOptions:
    """``options`` with the token cap whisper.cpp can honour (give these to the HF side too).

    With ``raw_max_tokens`` nothing changes: both sides apply whisper.cpp's own rules.
    """
    if options.raw_max_tokens:
        return options
    return replace(options, max_tokens=token_cap(options, n_text_ctx))


def probe_load(model_path: str | os.PathLike[str], timeout: float = LOAD_SECONDS,
               runtime: Runtime | None = None) -> LoadResult:
    """Load ``model_path`` in whisper.cpp in a child process and report whether it worked.

    Never raises for a bad model file (that is the answer); raises WhisperCppError only
    when the path is not a file.
    """
    path = _existing_model(model_path)
    started = time.perf_counter()
    try:
        records, log_text = _run_worker(path, "probe", [], {}, timeout, runtime or current_runtime())
    except WhisperCppRunError as exc:
        return LoadResult(path, False, str(exc), time.perf_counter() - started, exc.log)
    loaded = next(r for r in records if r["event"] == "loaded")
    facts = {k: v for k, v in loaded.items() if k not in ("event", "seconds")}
    return LoadResult(path, True, "", float(loaded["seconds"]), log_text, facts)


def transcribe_ggml(
    model_path: str | os.PathLike[str],
    clips: Sequence[np.ndarray],
    options: DecodeOptions = DecodeOptions(),
    contexts: Sequence[int | None] | None = None,
    timeout: float | None = None,
    sources: Sequence[str] | None = None,
    *,
    suppress_tokens: Iterable[int] | None = None,
    n_threads: int | None = None,
    flash_attn: bool = False,
    runtime: Runtime | None = None,
    no_timestamps: Sequence[bool] | None = None,
    languages: Sequence[str | None] | None = None,
) -> list[Transcript]:
    """Decode 16 kHz mono float32 ``clips`` with the GGML file in one whisper.cpp process.

    ``contexts`` gives each clip its own audio_ctx (None = full 30 s); without it every clip
    uses ``options.audio_ctx``. ``suppress_tokens`` is the reference model's suppress list
    (generation_config.suppress_tokens); without it ``options.suppress_tokens``, and without
    that whisper.cpp's own non-speech list, are used. ``flash_attn`` turns on whisper.cpp's
    flash attention (see the module docs for why it is off). ``runtime`` picks the whisper.cpp
    build (default: the current one); a runtime without ``suppress_regex`` suppresses only
    what ``suppress_nst`` covers. ``no_timestamps`` gives each clip whisper.cpp's no_timestamps
    flag (default: on for all). ``languages`` gives each clip its own language (None: that
    clip uses ``options.language``). ``n_threads`` defaults to :func:`default_threads` (results
    depend on it). ``timeout`` bounds
    the whole run (default: 60 s + 30 s per clip). Raises :class:`WhisperCppRunError` on a
    crash, abort, hang or failed load.
    """
    return start_transcribe_ggml(model_path, clips, options, contexts, timeout, sources,
                                 suppress_tokens=suppress_tokens, n_threads=n_threads, flash_attn=flash_attn,
                                 runtime=runtime, no_timestamps=no_timestamps, languages=languages).result()


def start_transcribe_ggml(
    model_path: str | os.PathLike[str],
    clips: Sequence[np.ndarray],
    options: DecodeOptions = DecodeOptions(),
    contexts: Sequence[int | None] | None = None,
    timeout: float | None = None,
    sources: Sequence[str] | None = None,
    *,
    suppress_tokens: Iterable[int] | None = None,
    n_threads: int | None = None,
    flash_attn: bool = False,
    runtime: Runtime | None = None,
    no_timestamps: Sequence[bool] | None = None,
    languages: Sequence[str | None] | None = None,
) -> PendingTranscripts:
    """:func:`transcribe_ggml` in the background: the worker starts now, and the returned
    object's ``result()`` waits for it (``cancel()`` kills it). The caller can do other work
    meanwhile, e.g. decode the same clips with the reference model on the cores whisper.cpp
    leaves free. Bad arguments raise here; whisper.cpp's failures raise from ``result()``.
    """
    path = _existing_model(model_path)
    if n_threads is not None and n_threads < 1:
        raise WhisperCppError(f"n_threads is {n_threads}; expected 1 or more")
    contexts = list(contexts) if contexts is not None else [options.audio_ctx] * len(clips)
    if len(contexts) != len(clips):
        raise WhisperCppError(f"{len(contexts)} audio contexts given for {len(clips)} clips; give one per clip")
    if languages is not None and len(languages) != len(clips):
        raise WhisperCppError(f"{len(languages)} languages given for {len(clips)} clips; give one per clip")
    if sources is not None and len(sources) != len(clips):
        raise WhisperCppError(f"{len(sources)} source names given for {len(clips)} clips; give one per clip")
    names = list(sources) if sources is not None else [str(i) for i in range(len(clips))]
    if not clips:
        return PendingTranscripts(None, [], [], [])
    ggml = read_ggml(path)  # a clean FormatError for a file that is not GGML at all
    cap = token_cap(options, ggml.hparams.n_text_ctx)
    wanted = suppress_tokens if suppress_tokens is not None else options.suppress_tokens
    plan = _suppress_plan(ggml.vocab, wanted)
    runtime = runtime or current_runtime()
    request = {
        "n_threads": n_threads if n_threads is not None else default_threads(),
        "language": options.language,
        "task": options.task,
        "beam_size": options.beam_size,
        # whisper.cpp ends a segment at step index >= max_tokens, i.e. after max_tokens + 1 tokens.
        "max_tokens": options.max_tokens if options.raw_max_tokens else cap - 1,
        "contexts": [_cpp_audio_ctx(c, ggml.hparams.n_audio_ctx) for c in contexts],
        "suppress_nst": plan["suppress_nst"],
        "suppress_regex": plan["regex"] if runtime.suppress_regex else None,
        "flash_attn": bool(flash_attn),
        "no_timestamps": [True] * len(clips) if no_timestamps is None else [bool(v) for v in no_timestamps],
        "languages": None if languages is None else [lang or options.language for lang in languages],
        **_threshold_request(options),
    }
    limit = timeout if timeout is not None else LOAD_SECONDS + SECONDS_PER_CLIP * len(clips)
    return PendingTranscripts(WorkerRun(path, "decode", clips, request, limit, runtime), list(clips), contexts, names)


class PendingTranscripts:
    """A whisper.cpp decode running in its worker process (see :func:`start_transcribe_ggml`)."""

    def __init__(self, run: WorkerRun | None, clips: list[np.ndarray], contexts: list[int | None],
                 sources: list[str]) -> None:
        self._run = run
        self._clips, self._contexts, self._sources = clips, contexts, sources

    def result(self) -> list[Transcript]:
        """Wait for the worker; the transcripts in clip order, or WhisperCppRunError."""
        if self._run is None:
            return []
        records, _ = self._run.finish()
        eot = next(r for r in records if r["event"] == "loaded")["eot"]
        results = {r["index"]: r for r in records if r["event"] == "clip"}
        return [_transcript(results[i], self._clips[i], self._contexts[i], eot, self._sources[i])
                for i in range(len(self._clips))]

    def cancel(self) -> None:
        """Kill the worker if it still runs (nothing happens after ``result()``)."""
        if self._run is not None:
            self._run.cancel()


def transcribe_ggml_files(
    model_path: str | os.PathLike[str],
    audio_paths: Sequence[str | os.PathLike[str]],
    options: DecodeOptions = DecodeOptions(),
    **kwargs: Any,
) -> list[Transcript]:
    """Load audio files (any format :func:`load_audio` reads) and decode them with whisper.cpp."""
    _existing_model(model_path)  # before decoding any audio
    clips = [load_audio(p) for p in audio_paths]
    return transcribe_ggml(model_path, clips, options, sources=[str(p) for p in audio_paths], **kwargs)


# --- internals ---------------------------------------------------------------------------


def _threshold_request(options: DecodeOptions) -> dict[str, Any]:
    """The request fields for prompt, blank suppression, thresholds and fallback."""
    return {
        "prompt": options.prompt,
        "suppress_blank": options.suppress_blank,
        # Off unless asked for: the reference decoder returns what it decoded.
        "entropy_thold": options.entropy_thold,
        "logprob_thold": -1e9 if options.logprob_thold is None else options.logprob_thold,
        "no_speech_thold": 1.0 if options.no_speech_thold is None else options.no_speech_thold,
        "temperature_inc": options.temperature_inc,
    }


def _existing_model(model_path: str | os.PathLike[str]) -> Path:
    # pywhispercpp takes a path that does not exist for a model *name* and downloads it.
    path = Path(model_path).expanduser()
    if not path.is_file():
        raise WhisperCppError(f"{path}: no such GGML model file; give the path of a .bin file")
    return path.resolve()


def _suppress_plan(vocab: Sequence[bytes], suppress_tokens: Iterable[int] | None) -> dict[str, Any]:
    if suppress_tokens is None:
        return {"suppress_nst": True, "regex": None}

    plan = plan_suppression(vocab, suppress_tokens)
    return {"suppress_nst": plan.suppress_nst, "regex": plan.regex}


def _cpp_audio_ctx(audio_ctx: int | None, n_audio_ctx: int) -> int:
    """whisper.cpp's audio_ctx: 0 means the full context."""
    if audio_ctx is None or int(audio_ctx) >= n_audio_ctx:
        return 0
    return max(1, int(audio_ctx))


def _transcript(record: dict[str, Any], clip: np.ndarray, audio_ctx: int | None, eot: int, source: str) -> Transcript:
    raw = [int(t) for t in record["tokens"]]
    return Transcript(
        text=record["text"].strip(),
        tokens=[t for t in raw if t < eot],
        duration=len(clip) / SAMPLE_RATE,
        seconds=float(record["seconds"]),
        audio_ctx=audio_ctx,
        source=source,
        hit_token_cap=eot not in raw,  # stopped by the cap (or the step limit), not by end-of-text
    )


def _run_worker(
    path: Path, mode: str, clips: Sequence[np.ndarray], request: dict[str, Any], timeout: float, runtime: Runtime,
) -> tuple[list[dict[str, Any]], str]:
    """Run the worker to its end; return its result records and log, or raise WhisperCppRunError."""
    return WorkerRun(path, mode, clips, request, timeout, runtime).finish()


class WorkerRun:
    """One worker process (:mod:`.worker`), started on construction in its own job folder.

    ``finish()`` waits for it (killing it at the time limit, counted from its start) and
    reads its results; ``cancel()`` kills it. Either removes the job folder. The worker is a
    plain script (no whisper_tune imports), so any runtime's interpreter runs it in isolated
    mode (-I: no script folder or user site on its path); PYTHONPATH is dropped so that the
    1.5 runtime never sees this environment's packages.
    """

    def __init__(self, path: Path, mode: str, clips: Sequence[np.ndarray], request: dict[str, Any],
                 timeout: float, runtime: Runtime) -> None:
        self.path, self.mode, self.n_clips, self.timeout = path, mode, len(clips), timeout
        self._folder = tempfile.TemporaryDirectory(prefix="whisper-tune-cpp-")
        job = Path(self._folder.name)
        (job / "request.json").write_text(json.dumps({**request, "model": str(path), "mode": mode}), encoding="utf-8")
        if clips:
            arrays: dict[str, Any] = {f"clip_{i}": np.asarray(c, dtype=np.float32) for i, c in enumerate(clips)}
            np.savez(job / "clips.npz", **arrays)
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
        # ggml answers an abort by attaching gdb for a backtrace: slow, and noise in the log.
        env["GGML_NO_BACKTRACE"] = "1"
        self._deadline = time.monotonic() + timeout
        with open(job / "log.txt", "wb") as log_file:  # the child keeps its own descriptor
            self._process: subprocess.Popen[bytes] | None = subprocess.Popen(
                [runtime.python, "-I", str(WORKER_SCRIPT), str(job)],
                stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file, env=env, start_new_session=True,
            )

    def finish(self) -> tuple[list[dict[str, Any]], str]:
        if self._process is None:
            raise WhisperCppError(f"{self.path}: this whisper.cpp run was cancelled or already read")
        timed_out = False
        try:
            returncode = self._process.wait(timeout=max(0.0, self._deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._kill()
            returncode, timed_out = self._process.wait(), True
        except BaseException:  # Ctrl-C: do not leave whisper.cpp running
            self.cancel()
            raise
        job = Path(self._folder.name)
        log_text = _tail((job / "log.txt").read_text(encoding="utf-8", errors="replace"))
        records = _records(job / "results.jsonl")
        self._process = None
        self._folder.cleanup()
        failure = _failure(self.path, self.mode, returncode, timed_out, self.timeout, records, self.n_clips)
        if failure is not None:
            reason, message, clip_index = failure
            raise WhisperCppRunError(_with_log(message, log_text), reason=reason, log=log_text,
                                     clip_index=clip_index)
        return records, log_text

    def cancel(self) -> None:
        if self._process is not None:
            self._kill()
            self._process.wait()
            self._process = None
        self._folder.cleanup()

    def _kill(self) -> None:
        assert self._process is not None
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(self._process.pid, signal.SIGKILL)


def _records(results: Path) -> list[dict[str, Any]]:
    if not results.exists():
        return []
    records = []
    for line in results.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            break  # a line cut by a crash
    return records


def _failure(
    path: Path, mode: str, returncode: int, timed_out: bool, timeout: float,
    records: list[dict[str, Any]], n_clips: int,
) -> tuple[str, str, int | None] | None:
    loaded = any(r["event"] == "loaded" for r in records)
    started = [r["index"] for r in records if r["event"] == "start"]
    done = {r["index"] for r in records if r["event"] == "clip"}
    clip = started[-1] if started and started[-1] not in done else None
    where = f"while decoding clip {clip + 1} of {n_clips}" if clip is not None else (
        "while loading the model" if not loaded else "after decoding")
    if timed_out:
        return "timeout", f"{path}: whisper.cpp did not finish within {timeout:.0f} s {where} (killed)", clip
    if any(r["event"] == "load_failed" for r in records):
        return "load_failed", f"{path}: whisper.cpp failed to load the model", None
    if returncode < 0:
        name = (
            signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        )
        kind = "aborted" if name == "SIGABRT" else "crashed"
        return "crashed", f"{path}: whisper.cpp {kind} ({name}) {where}", clip
    if returncode != 0:
        return "decode_failed", f"{path}: the whisper.cpp worker exited with status {returncode} {where}", clip
    if not loaded or (mode == "decode" and len(done) != n_clips):
        return "decode_failed", f"{path}: whisper.cpp returned results for {len(done)} of {n_clips} clips", clip
    return None


def _tail(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-LOG_TAIL_LINES:])


def _with_log(message: str, log_text: str) -> str:
    """The message plus the log lines that say what went wrong (or the last few)."""
    lines = [line.strip() for line in log_text.splitlines()]
    asserts = [line for line in lines if "GGML_ASSERT" in line or "GGML_ABORT" in line]
    keys = ("error", "failed", "invalid", "wrong", "unknown", "mismatch", "traceback")
    errors = [line for line in lines if any(k in line.lower() for k in keys)]
    relevant = list(dict.fromkeys(asserts + errors))[:4] or lines[-3:]
    return message + ("; whisper.cpp said: " + " | ".join(relevant) if relevant else "")
