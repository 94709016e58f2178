"""What every renderer shares: its Jinja environment over ``templates/<target>/`` and the writing of the
rendered files beside the hand-written sources they are built with; and how ``codegen`` puts a whole rendered
folder in place (``render_in_memory`` under ``locked_output_folder``, then ``atomic.write_files_atomic``)."""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import jinja2

from qsnn_deploy.atomic import folder_lock, write_bytes_atomic
from qsnn_deploy.outputs import OutputPathError
from qsnn_deploy.paths import templates_dir


def template_environment(target: str) -> jinja2.Environment:
    """Templates of ``templates/<target>/``; an undefined name is an error, never an empty string."""
    return _environment(str(templates_dir() / target))


@functools.cache
def _environment(folder: str) -> jinja2.Environment:
    # One environment per folder for the process: it keeps its compiled templates, and compiling them is nine
    # tenths of a small model's codegen (0.31 of 0.35 s for the C target). Jinja still reloads a template whose
    # file changed.
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def write_rendered(out: Path, files: dict[str, str], sources: Iterable[str] = ()) -> list[Path]:
    """Write ``files`` (name -> text) into ``out`` and copy the hand-written ``sources`` (paths relative to
    ``templates/``) beside them, each atomically; returns the paths written, in that order."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        write_bytes_atomic(out / name, text.encode())
        written.append(out / name)
    for source in sources:
        target = out / Path(source).name
        write_bytes_atomic(target, (templates_dir() / source).read_bytes())
        written.append(target)
    return written


def render_in_memory(render: Callable[[Path], object], out: Path) -> dict[Path, bytes]:
    """Run ``render(folder)`` on a private temporary folder and return what it wrote as ``out``-based paths
    and their bytes (sorted by path); the temporary folder is removed, also when ``render`` fails."""
    stage = Path(tempfile.mkdtemp(prefix="qsnn-render-"))
    try:
        render(stage)
        return {
            Path(out) / path.relative_to(stage): path.read_bytes()
            for path in sorted(stage.rglob("*"))
            if path.is_file()
        }
    finally:
        shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def locked_output_folder(out: Path) -> Iterator[Path]:
    """Create ``out`` if needed and hold its lock for the block: a second codegen into the same folder at the
    same time is refused in one line instead of mixing its files with these. A folder this call created is
    removed again when the block fails before writing into it."""
    out = Path(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"cannot create the folder {out}: {exc.strerror or exc}") from None
    busy = (
        f"another qsnn-deploy codegen is writing into {out}, or a verify --from is reading it; wait for it to "
        "finish, or pick another --out"
    )
    try:
        with folder_lock(out, busy):
            yield out
    except BaseException:
        if created:
            with suppress(OSError):
                out.rmdir()  # only while still empty
        raise
