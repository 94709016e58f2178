"""Layers point down only: no module imports from a package above its own (docs/architecture.md).

The order is read from docs/architecture.md, the one place it is written down. Every import is checked, at
the top of a module or inside a function (a lazy import is still a dependency), and so are two habits of the
command layer: click is imported only by the commands and the CLI's declarations, and every ``*_from_cli``
function lives in ``qsnn_deploy/commands/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "qsnn_deploy"
ARCHITECTURE = REPO / "docs" / "architecture.md"
MARKER = "<!-- layer order:"
ROOT = "__init__"  # the package root (``from qsnn_deploy import __version__``)

# Where click may be imported: the command layer and the CLI's own declarations.
CLICK_ALLOWED = ("qsnn_deploy/commands/", "qsnn_deploy/cli.py", "qsnn_deploy/cli_params.py")


def layer_order(text: str) -> list[str]:
    """The packages of the fenced block after the marker in docs/architecture.md, lowest first."""
    lines = text[text.index(MARKER) :].splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("```")) + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("```"))
    names = [line.split()[0] for line in lines[start:end] if line.strip()]
    return names[::-1]


LAYERS = layer_order(ARCHITECTURE.read_text())
RANK = {name: i for i, name in enumerate(LAYERS)}


def package_of(module: str) -> str:
    """The layer of a dotted module in qsnn_deploy: its first component (``qsnn_deploy.ir.graph`` -> ``ir``), or
    the root for the package itself and a name defined in its ``__init__`` (``qsnn_deploy.__version__``)."""
    parts = module.split(".")
    if len(parts) > 1 and ((PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file()):
        return parts[1]
    return ROOT


def imported_packages(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, layer) of every qsnn_deploy import in ``source``, the source of ``module``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against the importing module's package
                base = module.split(".")[: len(module.split(".")) - (0 if is_package else 1)]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target == "qsnn_deploy":  # from qsnn_deploy import verify, __version__, ...
                found += [(node.lineno, f"qsnn_deploy.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, target))
    return [
        (line, package_of(target))
        for line, target in found
        if target == "qsnn_deploy" or target.startswith("qsnn_deploy.")
    ]


def modules() -> list[tuple[str, Path]]:
    """(path relative to the repository, path) of every module of the package."""
    return [(path.relative_to(REPO).as_posix(), path) for path in sorted(PACKAGE.rglob("*.py"))]


def layer_of_file(rel: str) -> str:
    parts = rel.split("/")
    return ROOT if parts[1] == "__init__.py" else parts[1].removesuffix(".py")


def climbs(rel: str, source: str) -> list[str]:
    """Every import in the file ``rel`` (with ``source``) of a package above its own, as messages."""
    dotted = rel.removesuffix(".py").replace("/", ".").removesuffix(".__init__")
    own = layer_of_file(rel)
    return [
        f"{rel}:{line} ({own}) imports {target} (above it)"
        for line, target in imported_packages(source, dotted, rel.endswith("__init__.py"))
        if target != own and RANK.get(target, len(LAYERS)) > RANK.get(own, len(LAYERS))
    ]


def test_every_package_has_a_place_in_the_order() -> None:
    present = {layer_of_file(rel) for rel, _ in modules()}
    assert sorted(present - set(LAYERS)) == [], "add each new package to docs/architecture.md's layer order"
    assert sorted(set(LAYERS) - present) == [], "docs/architecture.md lists a package that is gone"
    assert len(LAYERS) == len(set(LAYERS))


def test_no_import_climbs_to_a_higher_layer() -> None:
    problems = [msg for rel, path in modules() for msg in climbs(rel, path.read_text())]
    assert problems == [], "\n".join(problems)


def test_click_is_imported_only_by_the_command_layer() -> None:
    offenders = []
    for rel, path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "click" or n.startswith("click.") for n in names) and not rel.startswith(
                CLICK_ALLOWED
            ):
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_every_from_cli_function_is_in_the_command_layer() -> None:
    outside = [
        f"{rel}:{node.lineno} {node.name}"
        for rel, path in modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name.endswith("_from_cli")
        if not rel.startswith("qsnn_deploy/commands/")
    ]
    assert outside == []


@pytest.mark.parametrize(
    ("rel", "source", "found"),
    [
        ("qsnn_deploy/sim/kernels.py", "from qsnn_deploy.targets import check_model", ["targets"]),
        (
            "qsnn_deploy/export/check.py",
            "def f():\n    from qsnn_deploy.targets import check_model",
            ["targets"],
        ),
        ("qsnn_deploy/verify/record.py", "from qsnn_deploy import targets", ["targets"]),
        ("qsnn_deploy/models/qsnn.py", "import qsnn_deploy.export.float_graph", ["export"]),
        ("qsnn_deploy/sim/plan.py", "from ..models import qsnn", ["models"]),
        ("qsnn_deploy/sim/plan.py", "from ..data import frames", []),
        ("qsnn_deploy/ir/io.py", "from qsnn_deploy import __version__", []),
        ("qsnn_deploy/targets/c/host.py", "from qsnn_deploy.verify.record import Record", []),
        ("qsnn_deploy/commands/simulate.py", "from qsnn_deploy.models import torch_stack", []),
    ],
)
def test_the_check_sees_a_planted_climb(rel: str, source: str, found: list[str]) -> None:
    """The check itself: a climb written any way Python allows is caught; a downward import is not."""
    assert [msg.split(" imports ")[1].split(" ")[0] for msg in climbs(rel, source)] == found
