"""Output paths checked before the work: a command that runs for hours must not find out at the end that it
cannot write its result.

``check_output_file`` and ``check_output_dir`` are called (through ``cli_params``) while the command line is
parsed. They refuse what ``atomic.write_atomic`` would refuse later, and what it could not know: a folder on a
read-only or full file system, a path through a file, a special file. qsnn-deploy writes regular files only:
an existing FIFO, device node, socket or symbolic link at an output path is never replaced (as root,
``--out /dev/full`` would otherwise replace the device node with a regular file).
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from qsnn_deploy.errors import QsnnError

MIN_FREE_BYTES = 1 << 20  # a folder with less free space than this counts as full


class OutputPathError(QsnnError, OSError):
    """An output path cannot be written: special file, symbolic link, read-only or full file system.

    Also an ``OSError``, which writes raised before it existed: code that handles a failed write keeps
    working, and the command line prints it as one line like every ``QsnnError``."""


def describe_special(mode: int) -> str | None:
    """What a non-regular, non-directory file is (``None`` for a regular file or a directory)."""
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return path.lstat()
    except FileNotFoundError:
        return None
    except NotADirectoryError:
        raise OutputPathError(f"{path}: a parent of this path is a file, not a folder") from None
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot be examined ({exc.strerror})") from None


def _nearest_existing_folder(path: Path) -> Path:
    """The folder an output would be created in, or the first ancestor of it that exists (which the writer
    will create the rest under)."""
    for parent in path.absolute().parents:
        st = _lstat(parent)
        if st is None:
            continue
        if not stat.S_ISDIR(parent.stat().st_mode):
            raise OutputPathError(f"{path}: {parent} is not a folder")
        return parent
    return Path("/")


def _check_writable_folder(folder: Path, path: Path) -> None:
    """Create and delete a probe file in ``folder``: the only test that sees read-only mounts, ACLs and
    special file systems (``/proc``) alike. Then the free space."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".qsnn-probe.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write in {folder} ({exc.strerror})") from None
    try:
        vfs = os.statvfs(folder)
    except OSError:
        return
    if vfs.f_frsize and vfs.f_bavail * vfs.f_frsize < MIN_FREE_BYTES:
        raise OutputPathError(f"{path}: the file system holding {folder} is full")


def check_output_file(path: Path | str) -> Path:
    """``path`` can be created or replaced by ``write_atomic``: absent or a regular file, in a folder that is
    (or can be created) writable and not full. Returns ``path`` as a Path; raises OutputPathError."""
    path = Path(path)
    st = _lstat(path)
    if st is not None:
        special = describe_special(st.st_mode)
        if special:
            raise OutputPathError(f"{path} is {special}; qsnn-deploy writes regular files only")
        if stat.S_ISDIR(st.st_mode):
            raise OutputPathError(f"{path} is a folder; give a file name")
    _check_writable_folder(_nearest_existing_folder(path), path)
    return path


def check_output_dir(path: Path | str, files: tuple[str, ...] = ()) -> Path:
    """``path`` is, or can be created as, a writable folder that is not full, and each of ``files`` in it can
    be written (``check_output_file``). A symbolic link to a folder is accepted (files are written inside it,
    never over the link). Returns ``path`` as a Path."""
    path = Path(path)
    st = _lstat(path)
    if st is None:
        folder = _nearest_existing_folder(path)
    else:
        try:
            is_dir = stat.S_ISDIR(path.stat().st_mode)
        except OSError:
            is_dir = False  # a dangling link
        if not is_dir:
            what = describe_special(st.st_mode) or "a file"
            raise OutputPathError(f"{path} is {what}, not a folder")
        folder = path
    _check_writable_folder(folder, path)
    for name in files:
        check_output_file(path / name)
    return path


def _resolved(path: Path | str) -> Path:
    try:
        return Path(path).expanduser().resolve(strict=False)
    except (OSError, RuntimeError):  # a symbolic-link loop: compare the absolute path as written
        return Path(os.path.abspath(path))


def same_file(a: Path | str, b: Path | str) -> bool:
    """``a`` and ``b`` name one file: equal once resolved (a file not yet written counts too), or, both
    existing, one inode (``os.path.samefile``: a hard link, a bind mount). Only ``stat`` is used: nothing is
    opened, so a FIFO never blocks."""
    if _resolved(a) == _resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def _inside(path: Path | str, folder: Path | str) -> bool:
    """``path`` lies in ``folder`` or below it (by the same identity as ``same_file``)."""
    return any(same_file(parent, folder) for parent in _resolved(path).parents)


Named = Iterable[tuple[str, "Path | str | None"]]


def refuse_outputs_over_inputs(outputs: Named, inputs: Named, folders: Named = ()) -> None:
    """An output never replaces an input: each ``(option, path)`` of ``outputs`` (a file the command writes,
    or a folder it writes into) is compared, by identity, with each ``(what, path)`` of ``inputs`` (every file
    the command reads, the paths the IR records included), and must not lie inside one of the input
    ``folders`` (e.g. ``verify --from DIR``). ``None`` entries are skipped. Called before any work; one line."""
    inputs, folders = list(inputs), list(folders)
    for option, out in outputs:
        if out is None:
            continue
        for what, path in inputs:
            if path is not None and same_file(out, path):
                raise OutputPathError(
                    f"{option} {out} is {what} {path}, which this command reads; an output never replaces an "
                    "input: choose another path"
                )
        for what, folder in folders:
            if folder is not None and _inside(out, folder):
                raise OutputPathError(
                    f"{option} {out} is inside {what} {folder}, which this command reads; choose a path outside it"
                )


def refuse_folder_holding_inputs(option: str, folder: Path | str, inputs: Named) -> None:
    """A folder a command writes several files into (``codegen --out``) must not hold one of its ``inputs``:
    a generated file could replace it."""
    for what, path in inputs:
        if path is not None and (same_file(folder, path) or _inside(path, folder)):
            raise OutputPathError(
                f"{option} {folder} holds {what} {path}, which this command reads, and the files written there "
                "could replace it: choose another folder"
            )


__all__ = [
    "MIN_FREE_BYTES",
    "OutputPathError",
    "check_output_dir",
    "check_output_file",
    "describe_special",
    "refuse_folder_holding_inputs",
    "refuse_outputs_over_inputs",
    "same_file",
]
