"""What ``verify --from DIR`` trusts of a folder ``codegen`` wrote: nothing but the IR it is checked against.

A generated folder is code (docs/trust-model.md). Its manifest records the target, the IR's fingerprint and the
code-generation options; ``read_manifest`` refuses anything else in it (a program, a kernel, a build setting).
Before anything is built, every file in the folder must be the one ``codegen`` writes from the IR with the
recorded options: the files are rendered again into a temporary folder and compared byte for byte. A missing,
edited or extra file is named in one line and nothing runs, unless the caller says the code was changed on
purpose (``allow_edited``; ``verify --allow-edited``), and then the files are named in the summary.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from qsnn_deploy.errors import QsnnError, VerificationError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.targets import MANIFEST, check_model, codegen_options, read_manifest
from qsnn_deploy.targets.base import CheckedModel, TargetOptions, TargetSpec
from qsnn_deploy.targets.options import declared
from qsnn_deploy.targets.static_check import check_constants


class EditedFolderError(QsnnError):
    """A ``verify --from`` folder holds files ``codegen`` would not write from this IR and these options."""


@dataclass(frozen=True)
class GeneratedFolder:
    """A checked ``--from`` folder: the model its files were rendered from (recorded codegen options plus the
    command line's build settings) and the files that differ from a fresh render (empty unless allowed)."""

    model: CheckedModel
    edited: tuple[str, ...]


def _files(root: Path) -> dict[str, os.stat_result]:
    """Every entry under ``root`` (not followed through links) by its relative POSIX path; folders only as
    the way to their entries."""
    found: dict[str, os.stat_result] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            path = Path(dirpath, name)
            found[path.relative_to(root).as_posix()] = path.lstat()
    return found


def _same_bytes(path: Path, expected: Path) -> bool:
    """``path``'s bytes equal ``expected``'s; ``path`` is a regular file of the same size (checked by the
    caller), opened without following a link or blocking on a FIFO swapped in since."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    with os.fdopen(fd, "rb") as got, open(expected, "rb") as want:
        if not stat.S_ISREG(os.fstat(got.fileno()).st_mode):
            return False
        while True:
            a, b = got.read(1 << 20), want.read(1 << 20)
            if a != b:
                return False
            if not a:
                return True


def differences(expected_dir: Path, folder: Path) -> list[str]:
    """What differs between ``folder`` and the fresh render in ``expected_dir`` (the manifest aside):
    ``edited NAME``, ``missing NAME``, ``extra NAME`` (also anything that is not a regular file)."""
    want = {k: v for k, v in _files(expected_dir).items() if k != MANIFEST}
    got = {k: v for k, v in _files(folder).items() if k != MANIFEST}
    problems = [f"missing {name}" for name in sorted(set(want) - set(got))]
    problems += [f"extra {name}" for name in sorted(set(got) - set(want))]
    for name in sorted(set(want) & set(got)):
        info = got[name]
        if not stat.S_ISREG(info.st_mode):
            problems.append(f"edited {name} (not a regular file)")
        elif info.st_size != want[name].st_size or not _same_bytes(folder / name, expected_dir / name):
            problems.append(f"edited {name}")
    return problems


def open_generated(
    graph: Graph,
    target: TargetSpec,
    folder: Path,
    options: TargetOptions | None,
    allow_edited: bool = False,
    *,
    check_constants_first: bool = True,
) -> GeneratedFolder:
    """Check ``folder`` (written by ``codegen --target target``) against ``graph`` before anything is built.

    The manifest must name this target and this IR and may hold only codegen options; ``options`` (the
    command line) adds build settings, and may repeat a codegen option only with the recorded value. Every file
    must be the one codegen writes (``EditedFolderError`` names each that is not) unless ``allow_edited``; the
    constants of an edited folder must still be the IR's (targets/static_check.py). ``check_constants_first``
    is False only in the mutation tests that plant a changed constant to show that the behavioural check
    catches it too; the command line has no way to turn it off."""
    from qsnn_deploy.ir.io import graph_fingerprint

    folder = Path(folder)
    made_for, fingerprint, made_with = read_manifest(folder)
    if made_for != target.name:
        raise VerificationError(f"{folder} holds the {made_for!r} target's files, not {target.name!r}'s")
    if fingerprint != graph_fingerprint(graph):
        raise VerificationError(
            f"{folder} was generated from another IR (fingerprint {fingerprint[:12]}...); run codegen "
            "again or pass the model it came from"
        )
    given = dict(options.extra) if options is not None else {}
    # what the folder was made with: the recorded text, else the option's default (``--board mps2-an386`` on a
    # folder generated without --board is the same board)
    made = {d.name: made_with.extra.get(d.name, d.text(d.default)) for d in declared(target.settings)}
    codegen = codegen_options(target)
    clashes = sorted(k for k, v in given.items() if k in codegen and made[k] != str(v))
    if clashes:
        was = ", ".join(f"{k}={made_with.extra.get(k, f'{made[k]} (default)')}" for k in clashes)
        raise QsnnError(
            f"--option {', '.join(clashes)} differs from what {folder} was generated with ({was}); "
            "run codegen again with the options you want"
        )
    opts = TargetOptions(made_with.prefix, {**made_with.extra, **given})
    model = check_model(graph, target, opts)
    fresh = Path(tempfile.mkdtemp(prefix="qsnn-from-"))
    try:
        target.render(model, fresh)
        problems = differences(fresh, folder)
        if problems and allow_edited and check_constants_first:  # code may change, the IR's constants may not
            check_constants(target.name, model, fresh, folder)
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
    if problems and not allow_edited:
        raise EditedFolderError(
            f"{folder} is not what codegen writes from this IR and its options ({'; '.join(problems)}); "
            "regenerate it with `qsnn-deploy codegen`, or pass --allow-edited to verify code you changed on purpose"
        )
    return GeneratedFolder(model, tuple(problems))


__all__ = ["EditedFolderError", "GeneratedFolder", "differences", "open_generated"]
