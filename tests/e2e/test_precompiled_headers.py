"""Precompiled headers in the build cache (qsnn_deploy/targets/precompiled.py), on the real g++: the HLS C
simulation and the Verilator testbench build with them, and g++ uses them (``-Winvalid-pch -Werror`` fails the
compile otherwise, as a test with other flags shows); one header serves every design; without a cache none is
made. The tests use the run's cache (conftest.py) where there is one, so the runtime objects are built once;
their designs have a prefix of their own, so that no other test's build stands in for theirs."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.build_cache import ENV_VAR
from tests.toolchains import require_tools

PREFIX = "pchtest"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run's build cache, or one for this test where the run has none."""
    if not os.environ.get(ENV_VAR):
        monkeypatch.setenv(ENV_VAR, str(tmp_path / "cache"))
    return Path(os.environ[ENV_VAR])


def lookups(cache: Path, kind: str) -> list[str]:
    """This process's lookups of ``kind`` in the cache, in order: hit or miss."""
    if not (cache / "log.txt").exists():
        return []
    lines = [line.split() for line in (cache / "log.txt").read_text().splitlines()]
    return [line[0] for line in lines if line[1] == kind and line[-1] == str(os.getpid())]


def test_the_hls_build_uses_the_header(cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    require_tools("g++")
    from qsnn_deploy.targets.hls.csim import build_csim

    before = len(lookups(cache, "pch-ap_types"))
    options = TargetOptions(prefix=PREFIX)
    generate(random_graph("tiny", 0), "hls", tmp_path / "model", options=options)
    exe = build_csim(tmp_path / "model", tmp_path / "csim", prefix=PREFIX, extra=["-Winvalid-pch"])
    assert exe.is_file()
    assert len(lookups(cache, "pch-ap_types")) == before + 1
    # -Winvalid-pch says nothing where there is no .gch at all: every header has its compiled form
    headers = list(cache.glob("*.pch/qsnn_pch_ap_types.h"))
    assert headers and all(h.with_suffix(".h.gch").stat().st_size > 1 << 20 for h in headers)


def test_no_cache_no_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qsnn_deploy.targets.precompiled import shared_header

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert shared_header("ap_types", "#include <cstdio>\n", ["g++", "-O2"], []) is None


def test_the_verilator_build_uses_one_header_for_every_design(cache: Path, tmp_path: Path) -> None:
    require_tools("verilator", "make", "g++")
    from qsnn_deploy.targets.verilog.verilator import build_verilator, make_command

    before = len(lookups(cache, "pch-verilated"))
    options = TargetOptions(prefix=PREFIX, extra={"lanes": "4"})
    for seed in (0, 1):
        generate(random_graph("tiny", seed), "verilog", tmp_path / f"m{seed}", options=options)
        build_verilator(tmp_path / f"m{seed}", tmp_path / f"w{seed}", PREFIX)
    assert lookups(cache, "pch-verilated")[before:] in (["miss", "hit"], ["hit", "hit"])
    (header,) = cache.glob("*.pch/qsnn_pch_verilated.h")
    make = make_command(tmp_path / "w1" / "obj_dir", PREFIX)

    def testbench_object(opt: str) -> subprocess.CompletedProcess:
        """Compile the testbench's object again with ``opt`` as make's OPT_FAST, asking g++ to fail on a
        precompiled header it cannot use."""
        cmd = [*make, "-B", f"OPT_FAST={opt} -include {header} -Winvalid-pch -Werror", "tb_verilator.o"]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    used = testbench_object("-O1")
    assert used.returncode == 0, used.stderr
    other = testbench_object("-O1 -UVM_TRACE")  # a macro the header was compiled with, undefined
    assert other.returncode != 0 and "not used because" in other.stderr


def test_a_cache_that_cannot_be_a_folder_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The header is the HLS build's first use of the cache: its error is the build cache's one line."""
    pytest.importorskip("hls4ml")
    require_tools("g++")
    from qsnn_deploy.targets.build_cache import BuildCacheError
    from qsnn_deploy.targets.hls.csim import build_csim

    (tmp_path / "file").write_text("")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "file" / "cache"))
    generate(random_graph("tiny", 0), "hls", tmp_path / "model")
    with pytest.raises(BuildCacheError, match=f"^{ENV_VAR}=.* cannot hold a build cache .*unset it$"):
        build_csim(tmp_path / "model", tmp_path / "csim")
