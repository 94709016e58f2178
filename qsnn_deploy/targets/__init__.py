"""Code generators, one sub-package per target, found through a registry.

Each sub-package ``qsnn_deploy/targets/<name>/`` calls ``register(TargetSpec(...))`` when imported (base.py). ``registry()`` imports every sub-package once, so a new target needs no edit outside its folder.
``generate`` runs the shared and the target's design rules, renders, and records in the output folder which IR
and code-generation options the files came from (``qsnn-target.json``), so ``verify --from DIR`` can check those
very files. The manifest is data in a folder someone may hand you (docs/trust-model.md): it records only the
options a target declares with ``codegen=True`` (those that change the files: targets/options.py), never a
program to run or a kernel to build, and ``read_manifest`` refuses any other.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import stat
from pathlib import Path

from qsnn_deploy.atomic import write_files_atomic
from qsnn_deploy.errors import DesignRuleError, QsnnError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.targets.base import CheckedModel, TargetOptions, TargetSpec, check
from qsnn_deploy.targets.files import locked_output_folder, render_in_memory
from qsnn_deploy.targets.names import unique_names
from qsnn_deploy.targets.options import codegen_keys, parse
from qsnn_deploy.targets.rules import SHARED_RULES, ops_supported

_REGISTRY: dict[str, TargetSpec] = {}
_DISCOVERED = False
MANIFEST = "qsnn-target.json"
MANIFEST_LIMIT = 64 * 1024  # bytes; codegen writes a few hundred


def register(target: TargetSpec) -> TargetSpec:
    if not isinstance(target, TargetSpec):
        raise TypeError(f"{target!r} is not a TargetSpec (targets/base.py)")
    _REGISTRY[target.name] = target
    return target


def registry() -> dict[str, TargetSpec]:
    """Every registered target by name (imports the target sub-packages on the first call)."""
    global _DISCOVERED
    if not _DISCOVERED:
        _DISCOVERED = True
        for info in pkgutil.iter_modules(__path__):
            if info.ispkg:
                importlib.import_module(f"{__name__}.{info.name}")
    return dict(sorted(_REGISTRY.items()))


def target_names() -> list[str]:
    return list(registry())


def get_target(name: str) -> TargetSpec:
    targets = registry()
    if name not in targets:
        raise DesignRuleError("known_target", f"unknown target {name!r}; choose one of {sorted(targets)}")
    return targets[name]


def check_model(graph: Graph, target: str | TargetSpec, options: TargetOptions | None = None) -> CheckedModel:
    """Read ``options`` into the target's typed settings (an unknown key or a bad value is one
    DesignRuleError, ``<target>_settings``), then run the shared rules and ``target``'s rules; returns what the
    renderer and executors read (``model.options``: the typed settings). The shared rule
    ``unique_generated_names`` reads the target's ``derived_names`` (targets/names.py)."""
    t = get_target(target) if isinstance(target, str) else target
    settings = parse(t.settings, options or TargetOptions(), t.name, t.settings_rule or f"{t.name}_settings")
    shared = (*SHARED_RULES, ops_supported(t.name, t.ops), unique_names(t.derived_names))
    return check(graph, (*shared, *t.rules), settings)


def codegen_options(target: str | TargetSpec) -> frozenset[str]:
    """The ``--option`` keys that change the files ``target`` renders (declared with ``codegen=True``). Only
    these are recorded in, and read back from, ``qsnn-target.json``: programs (``cc``, ``cxx``), kernel
    choices (``dense``) and build settings (``sanitize``, ``jobs``, ``threads``) come from the command line of
    the command that runs them."""
    t = get_target(target) if isinstance(target, str) else target
    return codegen_keys(t.settings)


def recorded_options(target: str | TargetSpec, options: TargetOptions) -> dict[str, str]:
    """The part of ``options.extra`` that ``qsnn-target.json`` records (see ``codegen_options``)."""
    keep = codegen_options(target)
    return {k: str(v) for k, v in options.extra.items() if k in keep}


def render_into(graph: Graph, target: str | TargetSpec, out: Path, options: TargetOptions) -> CheckedModel:
    """Check, render into ``out`` and write ``qsnn-target.json`` beside the files; returns the checked model."""
    return write_generated(graph, target, out, options)[0]


def write_generated(
    graph: Graph, target: str | TargetSpec, out: Path, options: TargetOptions
) -> tuple[CheckedModel, list[Path]]:
    """Check ``graph``, render ``target``'s files and ``qsnn-target.json``, and write them into ``out``; returns
    the checked model and the paths written (only those: other files in ``out`` are left alone).

    Nothing reaches ``out`` before every file is rendered (in a private folder, then held in memory) and every
    destination is checked: a design rule, a bad option or a FIFO at any one file leaves ``out`` as it was
    (``atomic.write_files_atomic``, which also says what a crash can still leave). ``out`` is locked from the
    render on: a second codegen into the same folder at the same time is refused in one line."""
    from qsnn_deploy.ir.io import graph_fingerprint

    t = get_target(target) if isinstance(target, str) else target
    model = check_model(graph, t, options)
    manifest = {
        "format": "qsnn-target",
        "target": t.name,
        "ir_sha256": graph_fingerprint(graph),
        "options": {"prefix": options.prefix, "extra": recorded_options(t, options)},
    }
    with locked_output_folder(Path(out)) as out:
        files = render_in_memory(lambda stage: t.render(model, stage), out)
        files[out / MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
        return model, write_files_atomic(files)


def generate(
    graph: Graph,
    target: str = "c",
    out: Path | str = "out",
    prefix: str = "qsnn",
    *,
    board: str | None = None,
    options: TargetOptions | None = None,
) -> list[Path]:
    """Check ``graph`` against ``target``'s design rules, then write its files to ``out``; returns the paths
    written (sorted), never other files already in ``out``. Nothing is written when a rule fails
    (DesignRuleError names every violated rule) or any destination cannot be written. ``board`` is the C
    target's ``--option board`` (the other targets refuse it)."""
    opts = options or TargetOptions(prefix=prefix, extra={} if board is None else {"board": board})
    return sorted(write_generated(graph, target, Path(out), opts)[1])


def _read_small_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path`` if it is a regular file of at most ``limit`` bytes (a FIFO, device or link is
    refused without blocking: opened with O_NONBLOCK and O_NOFOLLOW, checked with fstat before reading)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes, more than a manifest's {limit}")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            return handle.read(limit + 1)
    finally:
        os.close(fd)


def read_manifest(folder: Path) -> tuple[str, str, TargetOptions]:
    """(target, IR fingerprint, options) of a folder ``generate`` wrote; typed errors for anything else,
    including an option that is not one of the target's ``codegen_options`` (a folder never chooses a program,
    a kernel or a build setting).

    Folders written before the options were typed also hold ``options.board`` (every target recorded the C
    target's board): it is read as the C target's ``board`` option and ignored for the others."""
    path = Path(folder) / MANIFEST
    try:
        data = json.loads(_read_small_regular(path, MANIFEST_LIMIT).decode("utf-8"))
        opts = data["options"]
        extra = opts.get("extra", {})
        if data.get("format") != "qsnn-target" or not all(isinstance(v, str) for v in extra.values()):
            raise ValueError("not a qsnn-target manifest")
        target, prefix, board = data["target"], opts["prefix"], opts.get("board", "")
        if not all(isinstance(v, str) for v in (target, data["ir_sha256"], prefix, board)):
            raise ValueError("not a qsnn-target manifest")
        if board and "board" in codegen_options(target):  # the format before typed options
            extra = {"board": board, **extra}
    except FileNotFoundError:
        raise QsnnError(
            f"{folder}: no {MANIFEST}; pass a folder written by `qsnn-deploy codegen --out`"
        ) from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise QsnnError(f"{path}: unreadable target manifest ({exc})") from None
    refused = sorted(set(extra) - codegen_options(target))
    if refused:
        raise QsnnError(
            f"{path} sets {', '.join(repr(k) for k in refused)}, which codegen never records: a generated "
            "folder cannot choose a program, a kernel or a build setting; regenerate the folder with "
            "`qsnn-deploy codegen`, and pass build settings to verify with --option"
        )
    return target, str(data["ir_sha256"]), TargetOptions(prefix, dict(extra))


__all__ = [
    "check_model",
    "codegen_options",
    "generate",
    "render_into",
    "get_target",
    "read_manifest",
    "recorded_options",
    "register",
    "registry",
    "target_names",
    "write_generated",
]
