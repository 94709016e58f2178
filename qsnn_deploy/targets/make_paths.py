"""Paths that make (and Verilator's generated makefiles) can take.

make splits every file name at spaces and reads ``$``, ``%``, ``:``, ``#``, ``*`` and quotes as syntax, with
no quoting that works through a variable: ``verify --from "dir with space"`` broke the Verilator and the
Cortex-M builds, while gcc, g++ and iverilog, which get each path as one argument, never did. A folder whose
path make cannot take is reached through a symbolic link with a plain name in the build folder (which is ours,
under $TMPDIR); only a build folder whose own path make cannot take is refused, in one line.
"""

from __future__ import annotations

import re
from pathlib import Path

from qsnn_deploy.errors import ToolchainError

PLAIN = re.compile(r"[A-Za-z0-9_./+@~-]+")


def is_plain(path: Path) -> bool:
    """``path`` has only characters make reads as part of a file name."""
    return PLAIN.fullmatch(str(path)) is not None


def plain_work(work: Path) -> Path:
    """``work`` resolved; a ``ToolchainError`` when make cannot take its path."""
    work = Path(work).resolve()
    if not is_plain(work):
        raise ToolchainError(
            f"the build folder {str(work)!r} has characters make cannot take (a space, $, %, :, # or a "
            "quote); set TMPDIR to a folder whose path has none"
        )
    return work


def plain_folder(folder: Path, work: Path, name: str) -> Path:
    """``folder`` resolved when make can take its path, else the symbolic link ``work/name`` to it."""
    folder = Path(folder).resolve()
    if is_plain(folder):
        return folder
    link = plain_work(work) / name
    if link.is_symlink():
        link.unlink()
    link.symlink_to(folder, target_is_directory=True)
    return link
