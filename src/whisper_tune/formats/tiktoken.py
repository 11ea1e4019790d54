"""tiktoken's BPE rank files (OpenAI's ``multilingual.tiktoken``, ``gpt2.tiktoken``).

Layout: one token per line, ``<base64 of the token's bytes> <rank>``; the rank is the token
id and also the order in which byte-pair merges apply (a lower rank merges first). Whisper's
multilingual file holds an empty token (``=``) at rank 50256, a placeholder. The
openai-whisper package ships the multilingual vocabulary this way (``whisper/assets/``).
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path

from whisper_tune.errors import FormatError


def read_ranks(path: str | os.PathLike[str]) -> dict[bytes, int]:
    """Token bytes -> rank, in file order. Refuses a malformed line or a gap in the ranks."""
    file = Path(path)
    try:
        lines = file.read_bytes().splitlines()
    except OSError as exc:
        raise FormatError(f"{file}: cannot read ({exc.strerror})") from exc
    ranks: dict[bytes, int] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except (ValueError, binascii.Error) as exc:
            raise FormatError(f"{file}:{number}: expected '<base64 token> <rank>', got {line[:60]!r}") from exc
    if sorted(ranks.values()) != list(range(len(ranks))):
        raise FormatError(f"{file}: ranks are not 0..{len(ranks) - 1} without gaps or repeats")
    return ranks


def merge_of(ranks: dict[bytes, int], token: bytes) -> tuple[bytes, bytes] | None:
    """The byte-pair merge that creates ``token``: its bytes merged by lower ranks first,
    stopping below the token's own rank, leave exactly two parts. None for a token of one
    byte or none (nothing merges into it)."""
    if len(token) < 2:
        return None
    limit = ranks[token]
    parts = [bytes([byte]) for byte in token]
    while len(parts) > 2:
        best: tuple[int, int] | None = None
        for index in range(len(parts) - 1):
            rank = ranks.get(parts[index] + parts[index + 1])
            if rank is not None and rank < limit and (best is None or rank < best[0]):
                best = (rank, index)
        if best is None:
            break
        index = best[1]
        parts[index : index + 2] = [parts[index] + parts[index + 1]]
    if len(parts) != 2:
        return _unmergeable(token)
    return parts[0], parts[1]


def _unmergeable(token: bytes) -> tuple[bytes, bytes]:
    raise FormatError(f"token {token!r} cannot be built by merging lower-ranked tokens; not a BPE rank file")
