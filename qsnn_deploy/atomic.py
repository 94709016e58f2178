"""Atomic file writes: a temporary file beside the target, renamed into place, so that a reader (or a crash)
never sees a half-written output and an existing file survives a failed write.

Only regular files are written: an existing FIFO, device node, socket, symbolic link or folder at the target
is refused, never replaced. Any failure of the file system (no space left, read-only, permission denied) is
an ``OutputPathError`` (one line on the command line) and leaves no temporary file behind.

``write_files_atomic`` writes a set of files (a generated folder) all or nothing as far as a file system
allows: every destination is checked, then every file is written to a temporary beside its destination, and
only then are they renamed into place, one after the other. What it cannot promise: a crash (power loss,
SIGKILL) during the final renames leaves some files new and some old, since POSIX has no rename of several
files at once, and something created at a destination between the check and the rename is refused then, after
the earlier renames.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.outputs import OutputPathError, describe_special


class FolderBusyError(QsnnError):
    """Another process holds the folder's write lock (``folder_lock``)."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def _refuse_non_regular(path: Path) -> None:
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror}") from None
    special = describe_special(mode) or ("a folder" if stat.S_ISDIR(mode) else None)
    if special:
        raise OutputPathError(f"{path} is {special}; qsnn-deploy replaces regular files only")


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "no space left on the device (nothing was written)"
    return exc.strerror or str(exc)


def write_atomic(path: Path | str, write: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` through ``write(fileobj)``; the parent folder is created if needed."""
    path = Path(path)
    _refuse_non_regular(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the permissions open() would
        _refuse_non_regular(path)  # again: something may have appeared there while we wrote
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise OutputPathError(f"cannot write {path}: {_reason(exc)}") from None
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_files_atomic(files: Mapping[Path, bytes]) -> list[Path]:
    """Write every ``path -> bytes`` of ``files``, or none: each destination must be absent or a regular file
    (checked for all before any is written), each is written to a temporary beside it, and only when all are
    written are they renamed into place. A failure before the renames leaves every destination as it was and
    no temporary file behind. Returns the paths, in the order given."""
    paths = [Path(p) for p in files]
    for path in paths:
        _refuse_non_regular(path)
    staged: list[tuple[str, Path]] = []  # (temporary, destination), not yet renamed
    current = paths[0] if paths else Path()
    try:
        for path, data in zip(paths, files.values()):
            current = path
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            staged.append((tmp, path))
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(tmp, 0o666 & ~_UMASK)
        for _, path in staged:  # again: something may have appeared at a destination while we wrote
            _refuse_non_regular(path)
        while staged:
            tmp, current = staged[0]
            os.replace(tmp, current)
            staged.pop(0)
    except OutputPathError:
        raise
    except OSError as exc:
        raise OutputPathError(f"cannot write {current}: {_reason(exc)}") from None
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
    return paths


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: Path | str, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


@contextmanager
def folder_lock(folder: Path, busy: str, *, shared: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (an existing folder) for the block, or raise ``FolderBusyError``
    with the message ``busy`` at once when another process holds it. ``shared``: a reader's lock (``verify
    --from``), which other readers may hold at the same time but a writer (``codegen``) may not.

    The lock is ``flock`` on the folder itself, so that no lock file is left in a folder whose every file is
    checked (``verify --from``). It binds only writers that take it (qsnn-deploy), and is released by the
    kernel when the process dies. A file system without ``flock`` (some network mounts) gives no lock: the
    block then runs unlocked, as before locks existed."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        raise OutputPathError(f"cannot write in {folder}: {exc.strerror}") from None
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FolderBusyError(busy) from None
        except OSError:
            pass  # no flock on this file system: unlocked, see above
        yield
    finally:
        os.close(fd)  # releases the lock
