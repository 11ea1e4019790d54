"""The command-line layer: argument parsing, messages and exit codes, nothing else.

Each ``cli/<command>.py`` module exposes ``register(subparsers)``; the handler it installs
calls one library function and returns an exit code. Library imports happen inside the
handlers so that ``whisper-tune --help`` stays fast (no torch import).
"""
