"""Atomic outputs: an interrupted write never leaves a half file under the final name."""

from __future__ import annotations

import os

import pytest

from whisper_tune.fileio import atomic_directory, atomic_open, atomic_write_json


def test_success_replaces_and_leaves_no_temporaries(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with atomic_open(target, "wb") as handle:
        handle.write(b"new")
        assert target.read_bytes() == b"old"  # not visible until complete
    assert target.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["out.bin"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_failure_keeps_old_file(tmp_path):
    target = tmp_path / "out.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(target, "w") as handle:
        handle.write('{"v": 2')
        raise RuntimeError("interrupted")
    assert target.read_text() == '{\n  "v": 1\n}\n'
    assert os.listdir(tmp_path) == ["out.json"]


def test_directory_is_swapped_in_whole(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as staging:
        (staging / "a.txt").write_text("1")
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as staging:
        (staging / "a.txt").write_text("2")
        raise KeyboardInterrupt
    assert (target / "a.txt").read_text() == "1"
    with atomic_directory(target) as staging:
        (staging / "b.txt").write_text("3")
    assert sorted(os.listdir(target)) == ["b.txt"]
    assert os.listdir(tmp_path) == ["model"]


def test_read_mode_is_refused(tmp_path):
    with pytest.raises(ValueError), atomic_open(tmp_path / "x", "rb"):
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
