"""Decoding audio to text with a Hugging Face model (``hf``) or whisper.cpp (``whispercpp``).

Both backends take the same :class:`DecodeOptions` and return :class:`Transcript`, so that
verify and eval compare like with like.
"""

from whisper_tune.transcribe.types import DecodeOptions, Transcript

__all__ = ["DecodeOptions", "Transcript"]
