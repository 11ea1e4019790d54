"""Atomic outputs: an interrupted write never leaves a half file under the final name."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from whisper_tune.errors import OutputError
from whisper_tune.fileio import atomic_directory, atomic_open, atomic_write_json, describe_os_error


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


@pytest.mark.parametrize("durable", [True, False])
def test_durable_decides_the_fsync_only(tmp_path, fsynced_sizes, durable):
    synced = fsynced_sizes
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    payload = os.urandom(3000)
    with atomic_open(target, "wb", durable=durable) as handle:
        handle.write(payload)
        assert target.read_bytes() == b"old"  # not visible until complete, synced or not
    assert target.read_bytes() == payload
    assert os.listdir(tmp_path) == ["out.bin"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    assert synced == ([len(payload)] if durable else [])


def test_not_durable_failure_keeps_old_file_and_leaves_nothing(tmp_path, fsynced_sizes):
    synced = fsynced_sizes
    kept, new = tmp_path / "kept.bin", tmp_path / "new.bin"
    kept.write_bytes(b"old")
    for target in (kept, new):
        with pytest.raises(RuntimeError), atomic_open(target, "wb", durable=False) as handle:
            handle.write(b"half")
            raise RuntimeError("interrupted")
    assert kept.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["kept.bin"]
    assert synced == []


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


def _dead_pid() -> int:
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(child.stdout)


def test_stale_temporaries_of_this_output_are_removed_others_kept(tmp_path):
    dead, target = _dead_pid(), tmp_path / "out.bin"
    stale = [tmp_path / f".out.bin.{dead}.k3j4.tmp", tmp_path / f".out.bin.{dead}.x9.old"]
    stale[0].write_bytes(b"half a file")
    stale[1].mkdir()
    kept = [
        tmp_path / f".out.bin.{os.getpid()}.live.tmp",  # a writer that still runs
        tmp_path / f".other.bin.{dead}.k3j4.tmp",  # another output's
        tmp_path / ".out.bin.notapid.tmp",  # not our pattern
    ]
    for path in kept:
        path.write_bytes(b"")
    with atomic_open(target, "wb") as handle:
        handle.write(b"done")
    assert sorted(os.listdir(tmp_path)) == sorted(["out.bin", *(p.name for p in kept)])


def _kill_while_writing(script: str, target: Path) -> int:
    """Run ``script`` (which prints 'writing' mid-write, then sleeps) on ``target``, SIGKILL it
    there, and return its pid (the temporaries it leaves are named after it)."""
    child = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline() == "writing\n"
    child.send_signal(signal.SIGKILL)
    child.wait()
    return child.pid


def test_a_killed_directory_build_is_cleaned_up_by_the_next(tmp_path):
    target = tmp_path / "model"
    script = (
        "import sys, time\n"
        "from whisper_tune.fileio import atomic_directory\n"
        "with atomic_directory(sys.argv[1]) as staging:\n"
        "    (staging / 'weights.bin').write_bytes(b'x' * 1000)\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    pid = _kill_while_writing(script, target)
    [left] = os.listdir(tmp_path)
    assert left.startswith(f".model.{pid}.") and left.endswith(".tmp")  # what a kill leaves
    with atomic_directory(target) as staging:
        (staging / "weights.bin").write_bytes(b"y")
    assert os.listdir(tmp_path) == ["model"]


@pytest.mark.parametrize("durable", [True, False])
def test_a_killed_file_write_leaves_nothing_to_clean(tmp_path, durable):
    """Killed mid-write: an unnamed temporary (O_TMPFILE) vanishes with the process; a named
    one (no O_TMPFILE) is removed by the next write of the same file. Skipping the fsync
    changes nothing here."""
    target = tmp_path / "out.bin"
    script = (
        "import sys, time\n"
        "from whisper_tune.fileio import atomic_open\n"
        f"with atomic_open(sys.argv[1], 'wb', durable={durable}) as handle:\n"
        "    handle.write(b'x' * 100_000)\n"
        "    handle.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
    )
    pid = _kill_while_writing(script, target)
    assert all(name.startswith(f".out.bin.{pid}.") for name in os.listdir(tmp_path))
    with atomic_open(target, "wb") as handle:
        handle.write(b"done")
    assert os.listdir(tmp_path) == ["out.bin"] and target.read_bytes() == b"done"


def test_no_space_is_a_user_error_naming_the_path_and_the_fix(tmp_path):
    """A real file-size limit in a child process (SIGXFSZ ignored, so write() fails with EFBIG)."""
    script = (
        "import resource, signal, sys\n"
        "from whisper_tune.errors import OutputError\n"
        "from whisper_tune.fileio import atomic_open\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))\n"
        "try:\n"
        "    with atomic_open(sys.argv[1], 'wb') as handle:\n"
        "        for _ in range(100):\n"
        "            handle.write(b'x' * 10_000)\n"
        "except OutputError as exc:\n"
        "    print(exc)\n"
    )
    target = tmp_path / "big.bin"
    child = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True, text=True, timeout=60)
    assert child.returncode == 0, child.stderr
    message = child.stdout.strip()
    assert message.startswith(f"{target}: cannot write: the file is larger than this system allows after 50.0 kB")
    assert "raise the limit or write to another file system" in message
    assert os.listdir(tmp_path) == []


def test_permission_denied_is_a_user_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through directory permissions")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(OutputError, match=r"locked/out\.bin: cannot write: permission denied"):
        atomic_write_json(locked / "out.bin", {})


def test_describe_os_error_says_how_much_space_is_free(tmp_path):
    message = describe_os_error(tmp_path / "x.bin", OSError(errno.ENOSPC, "No space left on device"), 3_000_000)
    assert message.startswith(f"{tmp_path / 'x.bin'}: cannot write: no space left on the device (at least 3.0 MB")
    assert re.search(r"needed \(written before it ran out\), [\d.]+ [kMG]?B free there\); free some space", message)
