"""Outputs are regular files written atomically, and output paths are checked before the work: a special
file, a symbolic link, a read-only or full file system is one typed error, and an earlier output survives."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from qsnn_deploy.atomic import write_atomic, write_bytes_atomic
from qsnn_deploy.outputs import OutputPathError, check_output_dir, check_output_file


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp") or ".qsnn-probe." in p.name)


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_write_atomic_replaces_a_regular_file(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    write_bytes_atomic(path, b"new")
    assert path.read_bytes() == b"new" and _leftovers(tmp_path) == []


def test_a_fifo_is_never_replaced(tmp_path, fifo):
    with pytest.raises(OutputPathError, match="is a FIFO"):
        write_bytes_atomic(fifo, b"data")
    assert fifo.is_fifo() and _leftovers(tmp_path) == []


def test_a_symbolic_link_is_never_replaced_nor_followed(tmp_path):
    target = tmp_path / "earlier.json"
    target.write_bytes(b"earlier output")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    with pytest.raises(OutputPathError, match="symbolic link"):
        write_bytes_atomic(link, b"new")
    assert link.is_symlink() and target.read_bytes() == b"earlier output"


def test_a_device_node_is_never_replaced(tmp_path):
    node = tmp_path / "full"
    try:
        os.mknod(node, 0o600 | 0o020000, os.makedev(1, 7))  # a character device like /dev/full
    except PermissionError:
        pytest.skip("creating a device node needs root")
    with pytest.raises(OutputPathError, match="character device"):
        write_bytes_atomic(node, b"data")
    assert node.is_char_device()
    with pytest.raises(OutputPathError, match="character device"):
        check_output_file(node)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT])
def test_a_full_disk_is_one_line_and_leaves_no_partial_file(tmp_path, code):
    path = tmp_path / "model.qsnn"
    path.write_bytes(b"earlier output")

    def write(f):
        f.write(b"x" * 4096)
        raise OSError(code, os.strerror(code))

    with pytest.raises(OutputPathError) as info:
        write_atomic(path, write)
    assert "no space left" in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == b"earlier output" and _leftovers(tmp_path) == []


def test_an_unwritable_folder_is_one_line(tmp_path):
    with pytest.raises(OutputPathError, match="cannot write"):
        write_bytes_atomic(Path("/proc/qsnn-deploy-test/x.bin"), b"data")
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(OutputPathError, match="cannot write"):
        write_bytes_atomic(blocker / "x.bin", b"data")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d, "is a folder"),
        (lambda d: d / "pipe", "FIFO"),
        (lambda d: d / "file" / "x", "not a folder"),
        (lambda d: Path("/proc/qsnn-deploy-test"), "cannot write in /proc"),
        (lambda d: Path("/dev/full"), "character device"),
    ],
)
def test_check_output_file_refuses(tmp_path, fifo, make, fragment):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match=fragment):
        check_output_file(make(tmp_path))


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d / "file", "is a file, not a folder"),
        (lambda d: d / "pipe", "FIFO"),
        (lambda d: d / "file" / "sub", "not a folder"),
        (lambda d: Path("/proc/qsnn-deploy-test"), "cannot write in /proc"),
        (lambda d: Path("/dev/full"), "character device"),
    ],
)
def test_check_output_dir_refuses(tmp_path, fifo, make, fragment):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputPathError, match=fragment):
        check_output_dir(make(tmp_path))


def test_paths_that_can_be_written_pass_and_nothing_is_left_behind(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "linked").symlink_to(tmp_path / "real")
    assert check_output_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert check_output_dir(tmp_path / "linked") == tmp_path / "linked"  # a link to a folder is fine
    assert check_output_file(tmp_path / "a" / "b.json") == tmp_path / "a" / "b.json"
    assert not (tmp_path / "new").exists() and not (tmp_path / "a").exists()  # checks create nothing
    assert _leftovers(tmp_path) == [] and _leftovers(tmp_path / "real") == []


def test_a_full_file_system_is_refused_before_the_work(tmp_path, monkeypatch):
    real = os.statvfs

    class Full:
        def __init__(self, result):
            self.f_frsize, self.f_bavail = result.f_frsize, 3  # three free blocks

    monkeypatch.setattr(os, "statvfs", lambda p: Full(real(p)))
    with pytest.raises(OutputPathError, match="is full"):
        check_output_file(tmp_path / "model.qsnn")
    with pytest.raises(OutputPathError, match="is full"):
        check_output_dir(tmp_path / "run")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused_before_the_work(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(OutputPathError, match="cannot write"):
            check_output_file(folder / "x.json")
    finally:
        folder.chmod(0o755)


def test_a_real_full_file_system(tmp_path):
    """On a 64 KiB tmpfs (needs root and mount; skipped elsewhere): a write that does not fit is one line,
    the earlier file survives, nothing is left behind, and the check refuses the nearly full disk."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if proc.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        (mount / "filler").write_bytes(os.urandom(40_000))
        (mount / "model.qsnn").write_bytes(b"earlier output")
        with pytest.raises(OutputPathError, match="no space left"):
            write_bytes_atomic(mount / "model.qsnn", b"x" * 100_000)
        assert (mount / "model.qsnn").read_bytes() == b"earlier output"
        assert sorted(p.name for p in mount.iterdir()) == ["filler", "model.qsnn"]
        with pytest.raises(OutputPathError, match="is full"):
            check_output_file(mount / "other.qsnn")
    finally:
        subprocess.run(["umount", str(mount)], check=True)
