"""whisper.cpp (via pywhispercpp) in a child process: load probes and decoding of GGML files."""

from whisper_tune.whispercpp.runner import (
    LoadResult,
    WhisperCppRunError,
    aligned_options,
    default_threads,
    probe_load,
    token_cap,
    transcribe_ggml,
    transcribe_ggml_files,
)

__all__ = [
    "LoadResult",
    "WhisperCppRunError",
    "aligned_options",
    "default_threads",
    "probe_load",
    "token_cap",
    "transcribe_ggml",
    "transcribe_ggml_files",
]
