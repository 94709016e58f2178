"""The build cache ($QSNN_BUILD_CACHE, qsnn_deploy/targets/build_cache.py) on the real builders: a second build
of the same sources, even from another folder, copies the first's executable byte for byte without running the
compiler; the C runtime (the same file in every model) compiles once into an object every host build links; a source changed in one byte, another flag or a failed build builds (and a failure stores nothing);
two processes that build one key at the same time compile it once; unset, every build compiles. Verilator's
runtime objects compile by the same commands for every design, so one compile serves all.

The compiler is the real gcc behind a wrapper script that counts its compile runs (its ``--version``,
asked for the key, is not counted)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qsnn_deploy.errors import ToolchainError
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.build_cache import ENV_VAR, BuildCacheError
from qsnn_deploy.targets.c.host import build_host
from tests.toolchains import require_tools

COUNTING = """#!/bin/sh
case "$1" in --version) exec {compiler} "$@";; esac
echo compile >> {count}
sleep {delay}
exec {compiler} "$@"
"""


def counting_compiler(folder: Path, compiler: str, delay: float = 0.0) -> tuple[Path, Path]:
    """A wrapper of ``compiler`` that appends a line to its count file on every compile: (wrapper, count)."""
    wrapper, count = folder / f"counting-{compiler}", folder / f"{compiler}.count"
    wrapper.write_text(COUNTING.format(compiler=compiler, count=count, delay=delay))
    wrapper.chmod(0o755)
    return wrapper, count


def compiles(count: Path) -> int:
    return len(count.read_text().splitlines()) if count.exists() else 0


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_VAR, str(folder))
    return folder


def c_model(folder: Path) -> Path:
    generate(random_graph("tiny", 0), "c", folder)
    return folder


def test_a_hit_copies_the_same_bytes_without_compiling(cache: Path, tmp_path: Path) -> None:
    """The second folder holds the same generated files at another path: the per-run paths are not the key."""
    require_tools("gcc")
    gcc, count = counting_compiler(tmp_path, "gcc")
    first = build_host(c_model(tmp_path / "a"), tmp_path / "a-exe", cc=str(gcc))
    assert compiles(count) == 2  # the C runtime's object, then the executable
    second = build_host(c_model(tmp_path / "b"), tmp_path / "b-exe", cc=str(gcc))
    assert compiles(count) == 2
    assert second.read_bytes() == first.read_bytes() and os.access(second, os.X_OK)
    assert not second.samefile(first)  # a copy: nothing done to one build folder reaches another
    assert [line.split()[:2] for line in (cache / "log.txt").read_text().splitlines()] == [
        ["miss", "host-runtime"],
        ["miss", "host"],
        ["hit", "host-runtime"],
        ["hit", "host"],
    ]


def test_a_changed_source_or_flag_builds_again(cache: Path, tmp_path: Path) -> None:
    require_tools("gcc")
    gcc, count = counting_compiler(tmp_path, "gcc")
    model = c_model(tmp_path / "m")
    build_host(model, tmp_path / "exe", cc=str(gcc))
    assert compiles(count) == 2
    source = model / "qsnn_model.c"
    source.write_text(source.read_text() + "\n/* one byte more than codegen wrote */\n")
    build_host(model, tmp_path / "exe", cc=str(gcc))
    assert compiles(count) == 3  # the executable; the runtime's object is the cached one
    header = model / "qsnn_runtime.h"
    header.write_text(header.read_text() + "\n/* the runtime's header changed */\n")
    build_host(model, tmp_path / "exe", cc=str(gcc))
    assert compiles(count) == 5  # both: the runtime's object reads its header
    build_host(model, tmp_path / "exe", cc=str(gcc), extra=["-DQSNN_RECORD"])
    assert compiles(count) == 7
    build_host(model, tmp_path / "exe2", cc=str(gcc), extra=["-DQSNN_RECORD"])
    assert compiles(count) == 7
    assert len([p for p in cache.iterdir() if len(p.name) == 64]) == 7


def test_a_failed_build_stores_nothing(cache: Path, tmp_path: Path) -> None:
    require_tools("gcc")
    gcc, count = counting_compiler(tmp_path, "gcc")
    model = c_model(tmp_path / "m")
    source = model / "qsnn_model.c"
    good = source.read_text()
    source.write_text(good + "\nint broken(void) { return }\n")
    for _ in range(2):  # the second try compiles (and fails) again: no executable was filed for this key
        with pytest.raises(ToolchainError, match="compiling the host harness"):
            build_host(model, tmp_path / "exe", cc=str(gcc))
    assert compiles(count) == 3  # the runtime's object (it compiles), then the executable twice
    assert [line.split()[:2] for line in (cache / "log.txt").read_text().splitlines()] == [
        ["miss", "host-runtime"],
        ["hit", "host-runtime"],
    ]
    assert len([p for p in cache.iterdir() if len(p.name) == 64]) == 1  # the runtime's object only
    source.write_text(good)
    assert build_host(model, tmp_path / "exe", cc=str(gcc)).is_file()


def test_a_cache_that_cannot_be_a_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tools("gcc")
    (tmp_path / "file").write_text("")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "file" / "cache"))
    with pytest.raises(BuildCacheError, match=f"^{ENV_VAR}=.* cannot hold a build cache .*unset it$"):
        build_host(c_model(tmp_path / "m"), tmp_path / "exe")
    assert not (tmp_path / "exe").exists()


def test_unset_every_build_compiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_tools("gcc")
    monkeypatch.delenv(ENV_VAR, raising=False)
    gcc, count = counting_compiler(tmp_path, "gcc")
    model = c_model(tmp_path / "m")
    build_host(model, tmp_path / "exe1", cc=str(gcc))
    build_host(model, tmp_path / "exe2", cc=str(gcc))
    assert compiles(count) == 2


BUILD_WHEN_TOLD = """
import sys, time
from pathlib import Path
from qsnn_deploy.targets.c.host import build_host
model, exe, cc, go = sys.argv[1:]
Path(exe + ".ready").touch()
while not Path(go).exists():
    time.sleep(0.01)
build_host(Path(model), Path(exe), cc=cc)
"""


def test_two_processes_building_one_key_compile_once(cache: Path, tmp_path: Path) -> None:
    """Both processes wait for a signal, then build the same sources into their own folders; the compile
    takes a second longer than gcc's, so the second process asks while the first builds."""
    require_tools("gcc")
    gcc, count = counting_compiler(tmp_path, "gcc", delay=1.0)
    go = tmp_path / "go"
    models = [c_model(tmp_path / "a"), c_model(tmp_path / "b")]
    root = str(Path(__file__).resolve().parents[2])  # this checkout's package, whatever the working folder
    env = {
        **os.environ,
        ENV_VAR: str(cache),
        "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", BUILD_WHEN_TOLD, str(m), str(tmp_path / f"exe{i}"), str(gcc), str(go)],
            env=env,
        )
        for i, m in enumerate(models)
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"exe{i}.ready").exists() for i in range(2)) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both are imported and waiting: they ask for the key within milliseconds of each other
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert compiles(count) == 2  # the runtime's object and the executable, once each
    assert (tmp_path / "exe0").read_bytes() == (tmp_path / "exe1").read_bytes()
    events = sorted(line.split()[:2] for line in (cache / "log.txt").read_text().splitlines())
    assert events == [["hit", "host"], ["hit", "host-runtime"], ["miss", "host"], ["miss", "host-runtime"]]


def test_verilator_runtime_objects_compile_the_same_for_every_design(tmp_path: Path) -> None:
    """Two designs of different organisations and prefixes: make would compile the same runtime objects by the
    same commands, none naming either model folder (so one cached copy serves both)."""
    require_tools("verilator", "make")
    from qsnn_deploy.targets.base import TargetOptions
    from qsnn_deploy.targets.verilog.verilator import make_command, runtime_recipes, verilate_command
    from qsnn_deploy.verify.tools import run_tool

    recipes = []
    for name, options, arch in [
        ("layered", TargetOptions(extra={"lanes": "4"}), "layered"),
        ("serial", TargetOptions(prefix="other", extra={"arch": "serial"}), "serial"),
    ]:
        src, obj = tmp_path / name, tmp_path / f"{name}-obj"
        generate(random_graph("tiny", 0), "verilog", src, options=options)
        run_tool(verilate_command(src, obj, options.prefix, arch), "verilating")
        recipes.append(runtime_recipes(make_command(obj, options.prefix)))
    assert recipes[0] == recipes[1]
    assert "verilated.o" in recipes[0]
    text = "\n".join(line for lines in recipes[0].values() for line in lines)
    assert "verilated.cpp" in text and str(tmp_path) not in text
