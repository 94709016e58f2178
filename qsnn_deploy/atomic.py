"""Atomic file writes: a temporary file beside the target, renamed into place, so that a reader (or a crash)
never sees a half-written output and an existing file survives a failed write.

Only regular files are written: an existing FIFO, device node, socket, symbolic link or folder at the target
is refused, never replaced. Any failure of the file system (no space left, read-only, permission denied) is
an ``OutputPathError`` (one line on the command line) and leaves no temporary file behind.
"""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from qsnn_deploy.outputs import OutputPathError, describe_special


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


def write_bytes_atomic(path: Path | str, data: bytes) -> Path:
    return write_atomic(path, lambda f: f.write(data))


def write_text_atomic(path: Path | str, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))
