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
