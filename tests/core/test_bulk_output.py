"""bulk_output.bulk_writer: the bytes, their digest, O_DIRECT and its fallbacks, on real files."""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os

import numpy as np
import pytest

from whisper_tune.bulk_output import ALIGNMENT, CHUNK_BYTES, bulk_writer

#: Sizes around every boundary the writer handles: empty, tiny, one alignment unit, a whole
#: staging buffer, and writes that straddle buffers with an unaligned tail.
_PIECE_SIZES = [0, 1, 7, ALIGNMENT - 1, ALIGNMENT, CHUNK_BYTES - 3, 5, CHUNK_BYTES, 2 * CHUNK_BYTES + 11, 100_003]


def _pieces(seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in _PIECE_SIZES]


def _write(path, pieces, *, durable: bool):
    digest = hashlib.sha256()
    with open(path, "wb") as handle, bulk_writer(handle, durable=durable, digest=digest) as writer:
        for piece in pieces:
            assert writer.write(piece) == len(piece)
        handle_direct = writer.direct
    return digest.hexdigest(), handle_direct


@pytest.mark.parametrize("durable", [True, False])
def test_file_and_digest_are_exactly_the_bytes_written(tmp_path, durable, direct_writes):
    pieces = _pieces()
    expected = b"".join(pieces)
    path = tmp_path / "out.bin"
    digest, direct = _write(path, pieces, durable=durable)
    assert path.read_bytes() == expected
    assert digest == hashlib.sha256(expected).hexdigest()
    # past the page cache on this (ext4) disk, whether the caller will fsync or not
    assert direct is True
    assert set(direct_writes) == {True}
    assert len(direct_writes) == -(-len(expected) // CHUNK_BYTES)
    with open(path, "rb") as handle:  # the descriptor's own flags are restored
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & os.O_DIRECT


def test_descriptor_is_left_at_the_end_without_o_direct(tmp_path):
    path = tmp_path / "out.bin"
    with open(path, "wb") as handle:
        with bulk_writer(handle) as writer:
            writer.write(b"x" * (ALIGNMENT + 5))
        assert not fcntl.fcntl(handle.fileno(), fcntl.F_GETFL) & os.O_DIRECT
        handle.write(b"tail")  # the caller may go on writing through its own handle
    assert path.read_bytes() == b"x" * (ALIGNMENT + 5) + b"tail"


def test_refused_o_direct_write_falls_back_to_the_page_cache(tmp_path, monkeypatch):
    """Some file systems accept the O_DIRECT flag and then refuse the write (EINVAL): the
    writer goes on through the cache, losing nothing. The OS call is wrapped to refuse."""
    real_pwrite = os.pwrite
    refused: list[int] = []

    def refusing_pwrite(fd, data, offset):
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", refusing_pwrite)
    pieces = _pieces(1)
    path = tmp_path / "out.bin"
    digest, direct = _write(path, pieces, durable=True)
    assert refused == [0] and direct is False
    assert path.read_bytes() == b"".join(pieces)
    assert digest == hashlib.sha256(b"".join(pieces)).hexdigest()


@pytest.mark.parametrize("durable", [True, False])
def test_without_o_direct_a_durable_file_starts_its_write_back_early(tmp_path, monkeypatch, durable):
    """Where O_DIRECT is missing (here: the flag refused by the OS call, wrapped), the data
    goes through the page cache, and only a file to be synced asks for early write-back."""
    real_fcntl = fcntl.fcntl
    advised: list[int] = []
    real_fadvise = os.posix_fadvise

    def no_direct_fcntl(fd, command, arg=0):
        if command == fcntl.F_SETFL and arg & os.O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_fcntl(fd, command, arg)

    def recording_fadvise(fd, offset, length, advice):
        advised.append(advice)
        return real_fadvise(fd, offset, length, advice)

    monkeypatch.setattr(fcntl, "fcntl", no_direct_fcntl)
    monkeypatch.setattr(os, "posix_fadvise", recording_fadvise)
    pieces = _pieces(2)
    path = tmp_path / "out.bin"
    digest, direct = _write(path, pieces, durable=durable)
    assert direct is False
    assert path.read_bytes() == b"".join(pieces)
    assert digest == hashlib.sha256(b"".join(pieces)).hexdigest()
    assert advised == ([os.POSIX_FADV_DONTNEED] * -(-len(b"".join(pieces)) // CHUNK_BYTES) if durable else [])


def test_a_write_error_reaches_the_caller(tmp_path, monkeypatch):
    real_pwrite = os.pwrite

    def full_disk_pwrite(fd, data, offset):
        if offset >= CHUNK_BYTES:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_pwrite(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", full_disk_pwrite)
    with pytest.raises(OSError) as caught, open(tmp_path / "out.bin", "wb") as handle, \
            bulk_writer(handle) as writer:
        for _ in range(4):
            writer.write(bytes(CHUNK_BYTES))
    assert caught.value.errno == errno.ENOSPC


def test_an_exception_in_the_body_abandons_the_writes(tmp_path):
    with pytest.raises(RuntimeError, match="stop"), open(tmp_path / "out.bin", "wb") as handle, \
            bulk_writer(handle) as writer:
        writer.write(bytes(CHUNK_BYTES + 1))
        raise RuntimeError("stop")
    # the tail was never written: only whole buffers reached the file
    assert (tmp_path / "out.bin").stat().st_size in (0, CHUNK_BYTES)


def test_refuses_a_file_that_is_not_empty(tmp_path):
    with open(tmp_path / "out.bin", "wb") as handle:
        handle.write(b"already")
        with pytest.raises(ValueError, match="empty file"), bulk_writer(handle):
            pass
