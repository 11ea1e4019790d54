"""tiktoken rank files: reading, and recovering each token's byte-pair merge."""

from __future__ import annotations

import base64

import pytest

from whisper_tune.errors import FormatError
from whisper_tune.formats.tiktoken import merge_of, read_ranks


def _write(path, tokens):
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(tokens)))
    return path


def test_ranks_and_merges(tmp_path):
    tokens = [b"a", b"b", b"c", b"ab", b"bc", b"abc", b"cab"]
    ranks = read_ranks(_write(tmp_path / "r.tiktoken", tokens))
    assert ranks == {t: i for i, t in enumerate(tokens)}
    assert merge_of(ranks, b"a") is None
    assert merge_of(ranks, b"ab") == (b"a", b"b")
    # "abc": "ab" (rank 3) merges before "bc" (rank 4), leaving ab + c.
    assert merge_of(ranks, b"abc") == (b"ab", b"c")
    assert merge_of(ranks, b"cab") == (b"c", b"ab")


def test_malformed_files_are_refused(tmp_path):
    (tmp_path / "bad.tiktoken").write_bytes(b"YQ== 0\nnot-a-line\n")
    with pytest.raises(FormatError, match=r"bad.tiktoken:2: expected"):
        read_ranks(tmp_path / "bad.tiktoken")
    (tmp_path / "gap.tiktoken").write_bytes(b"YQ== 0\nYg== 2\n")
    with pytest.raises(FormatError, match="without gaps"):
        read_ranks(tmp_path / "gap.tiktoken")
    ranks = read_ranks(_write(tmp_path / "nomerge.tiktoken", [b"a", b"b", b"xyz"]))
    with pytest.raises(FormatError, match="cannot be built by merging"):
        merge_of(ranks, b"xyz")
