"""Run whisper.cpp (pywhispercpp) on a GGML file in a child process, for export tests.

A model whisper.cpp fails to load does not raise in pywhispercpp: the next call segfaults.
So every load happens in a subprocess; its exit status and stderr (whisper.cpp's log) come
back with the transcript. One thread: ggml's workers spin while waiting, so on the shared
2-core test machine a second thread makes decoding several times slower, not faster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

_SCRIPT = r"""
import json, sys
import _pywhispercpp as pw
from whisper_tune.audio import load_audio
model, wav = sys.argv[1], sys.argv[2]
ctx = pw.whisper_init_from_file_with_params(model, pw.whisper_context_default_params())
if ctx is None:
    sys.exit(3)
audio = load_audio(wav)
p = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
p.greedy = {"best_of": 1}; p.temperature = 0.0; p.temperature_inc = 0.0; p.no_context = True
p.print_progress = False; p.print_realtime = False; p.print_timestamps = False
p.n_threads = 1; p.language = "en"; p.max_tokens = 64
if pw.whisper_full(ctx, p, audio, audio.size) != 0:
    sys.exit(4)
segments = range(pw.whisper_full_n_segments(ctx))
text = b"".join(pw.whisper_full_get_segment_text(ctx, i) for i in segments).decode("utf-8", "replace")
print(json.dumps({"text": text}))
"""


@dataclass(frozen=True)
class WhisperCppRun:
    returncode: int
    text: str | None
    log: str

    @property
    def loaded(self) -> bool:
        return self.returncode == 0 and "failed to load model" not in self.log


def transcribe_in_subprocess(model: Path, wav: Path, timeout: float = 120) -> WhisperCppRun:
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(model), str(wav)],
        capture_output=True, text=True, timeout=timeout,
        # ggml's abort handler otherwise runs gdb for a backtrace, which takes minutes.
        env={**os.environ, "GGML_NO_BACKTRACE": "1"},
    )
    text = None
    if proc.returncode == 0 and proc.stdout.strip():
        text = json.loads(proc.stdout.strip().splitlines()[-1])["text"]
    return WhisperCppRun(proc.returncode, text, proc.stderr)


_MANY_SCRIPT = r"""
import json, sys
import _pywhispercpp as pw
from whisper_tune.audio import load_audio
wav, language, audio_ctx, models = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
audio = load_audio(wav)
for model in models:
    sys.stderr.write(f"=== {model}\n"); sys.stderr.flush()
    params = pw.whisper_context_default_params()
    params.flash_attn = False
    ctx = pw.whisper_init_from_file_with_params(model, params)
    if ctx is None:
        print(json.dumps({"model": model, "loaded": False, "text": None}), flush=True)
        continue
    p = pw.whisper_full_default_params(pw.whisper_sampling_strategy.WHISPER_SAMPLING_GREEDY)
    p.greedy = {"best_of": 1}; p.temperature = 0.0; p.temperature_inc = 0.0; p.no_context = True
    p.print_progress = False; p.print_realtime = False; p.print_timestamps = False
    p.n_threads = 1; p.language = language; p.max_tokens = 8; p.audio_ctx = audio_ctx
    status = pw.whisper_full(ctx, p, audio, audio.size)
    text = b"".join(pw.whisper_full_get_segment_text(ctx, i) for i in range(pw.whisper_full_n_segments(ctx)))
    row = {"model": model, "loaded": True, "status": status, "text": text.decode("utf-8", "replace")}
    print(json.dumps(row), flush=True)
    pw.whisper_free(ctx)
"""


@dataclass(frozen=True)
class ManyRun:
    """One file of :func:`decode_many_in_subprocess`: whisper.cpp's log for it and the outcome."""

    loaded: bool
    status: int | None
    text: str | None
    log: str


def decode_many_in_subprocess(models: list[Path], wav: Path, language: str, audio_ctx: int = 64,
                              timeout: float = 300) -> dict[Path, ManyRun]:
    """Load each file in one child process and decode a few tokens of ``wav`` at a short
    ``audio_ctx`` (cheap for deep random models); each file's share of the log comes back."""
    proc = subprocess.run(
        [sys.executable, "-c", _MANY_SCRIPT, str(wav), language, str(audio_ctx), *map(str, models)],
        capture_output=True, text=True, timeout=timeout, env={**os.environ, "GGML_NO_BACKTRACE": "1"},
    )
    logs = {Path(part.split("\n", 1)[0].strip()): part for part in proc.stderr.split("=== ")[1:]}
    results: dict[Path, ManyRun] = {}
    for line in proc.stdout.splitlines():
        row = json.loads(line)
        path = Path(row["model"])
        results[path] = ManyRun(row["loaded"], row.get("status"), row["text"], logs.get(path, ""))
    if proc.returncode != 0:
        raise AssertionError(f"whisper.cpp child exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return results
