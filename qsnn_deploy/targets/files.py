"""What every renderer shares: its Jinja environment over ``templates/<target>/`` and the atomic writing of the
rendered files beside the hand-written sources they are built with."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import jinja2

from qsnn_deploy.atomic import write_bytes_atomic
from qsnn_deploy.paths import templates_dir


def template_environment(target: str) -> jinja2.Environment:
    """Templates of ``templates/<target>/``; an undefined name is an error, never an empty string."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir() / target)),
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
