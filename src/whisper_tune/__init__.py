"""whisper-tune: fine-tune Whisper on your own words and ship it to whisper.cpp.

Each pipeline step is a plain library function; ``whisper_tune.cli`` is a thin layer that
turns their typed errors into messages and exit codes.
"""

__version__ = "0.1.0"
