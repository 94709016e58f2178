"""Where a model came from: the checkpoint's path and SHA-256, recorded in the IR at export and checked again
by ``simulate`` before it compares with the float model. Needs no torch."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from qsnn_deploy.errors import QsnnError

MAX_HASHED_BYTES = 16 << 30  # no checkpoint or NIR file is near this; a path the IR records may be anything


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a regular file's bytes, read in 1 MiB chunks, never more than the size ``fstat`` gives.

    The path may come from a file (the checkpoint an IR records), so it is opened without blocking (a FIFO)
    and must be a regular file of at most ``MAX_HASHED_BYTES``; a file that yields more bytes than its size
    (``/proc/self/pagemap`` says 0 and holds 256 GiB) is refused as soon as it does. QsnnError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise QsnnError(f"{path}: cannot be read ({exc.strerror})") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise QsnnError(f"{path} is not a regular file; it is not hashed or read")
    with os.fdopen(fd, "rb") as fh:
        if info.st_size > MAX_HASHED_BYTES:
            raise QsnnError(f"{path} holds {info.st_size} bytes, more than the {MAX_HASHED_BYTES} read here")
        digest, left = hashlib.sha256(), info.st_size
        while chunk := fh.read(min(1 << 20, left + 1)):
            left -= len(chunk)
            if left < 0:
                raise QsnnError(
                    f"{path} yields more bytes than its size ({info.st_size}): not a file on disk"
                )
            digest.update(chunk)
    return digest.hexdigest()
