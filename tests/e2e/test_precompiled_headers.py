"""Precompiled headers in the build cache (qsnn_deploy/targets/precompiled.py), on the real g++: the HLS C
simulation and the Verilator testbench build with them, and g++ uses them (``-Winvalid-pch -Werror`` would fail
the compile otherwise); one header serves every design; a header g++ cannot use (corrupt, or other flags)
costs time but changes no build; without a cache none is made."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from qsnn_deploy.errors import ToolchainError
from qsnn_deploy.ir.synthetic import random_graph
from qsnn_deploy.targets import generate
from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.build_cache import ENV_VAR
from tests.toolchains import require_tools

RECORD = "-DQSNN_HLS_RECORD"  # what the csim executor compiles with


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(ENV_VAR, str(folder))
    return folder


def events(cache: Path, kind: str) -> list[str]:
    """The cache's lookups of ``kind``, in order: hit or miss."""
    lines = (cache / "log.txt").read_text().splitlines()
    return [line.split()[0] for line in lines if line.split()[1] == kind]


def hls_model(folder: Path, seed: int) -> Path:
    generate(random_graph("tiny", seed), "hls", folder)
    return folder


def test_the_hls_build_uses_one_header_for_every_design(cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("hls4ml")
    require_tools("g++")
    from qsnn_deploy.targets.hls.csim import build_csim

    for seed in (0, 1):  # two designs: the header is compiled once
        model = hls_model(tmp_path / f"m{seed}", seed)
        build_csim(model, tmp_path / f"csim{seed}", extra=[RECORD, "-Winvalid-pch"])
    assert events(cache, "pch-ap_types") == ["miss", "hit"]
    assert events(cache, "csim") == ["miss", "miss"]
    (header,) = cache.glob("*.pch/qsnn_pch_ap_types.h")
    assert header.with_suffix(".h.gch").stat().st_size > 1 << 20
    # the check can fail: a corrupt header is "not a PCH file" to a compile that asks
    header.with_suffix(".h.gch").write_bytes(b"not a precompiled header")
    with pytest.raises(ToolchainError, match="invalid-pch"):
        build_csim(hls_model(tmp_path / "m2", 2), tmp_path / "csim2", extra=[RECORD, "-Winvalid-pch"])
    # and a compile that does not ask reads the headers themselves: the same program as without a cache
    build_csim(hls_model(tmp_path / "m3", 3), tmp_path / "csim3", extra=[RECORD])
    assert (tmp_path / "csim3").is_file()


def test_no_cache_no_header(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from qsnn_deploy.targets.precompiled import shared_header

    monkeypatch.delenv(ENV_VAR, raising=False)
    assert shared_header("ap_types", "#include <cstdio>\n", ["g++", "-O2"], []) is None


def test_the_verilator_build_uses_one_header_for_every_design(cache: Path, tmp_path: Path) -> None:
    require_tools("verilator", "make", "g++")
    from qsnn_deploy.targets.verilog.verilator import build_verilator, make_command

    options = TargetOptions(extra={"lanes": "4"})
    for seed in (0, 1):
        generate(random_graph("tiny", seed), "verilog", tmp_path / f"m{seed}", options=options)
        build_verilator(tmp_path / f"m{seed}", tmp_path / f"w{seed}", "qsnn")
    assert events(cache, "pch-verilated") == ["miss", "hit"]
    (header,) = cache.glob("*.pch/qsnn_pch_verilated.h")
    make = make_command(tmp_path / "w1" / "obj_dir", "qsnn")

    def testbench_object(opt: str) -> subprocess.CompletedProcess:
        """Compile the testbench's object again with ``opt`` as make's OPT_FAST, asking g++ to fail on a
        precompiled header it cannot use."""
        cmd = [*make, "-B", f"OPT_FAST={opt} -include {header} -Winvalid-pch -Werror", "tb_verilator.o"]
        return subprocess.run(cmd, capture_output=True, text=True, check=False)

    used = testbench_object("-O1")
    assert used.returncode == 0, used.stderr
    other = testbench_object("-O1 -UVM_TRACE")  # a macro the header was compiled with, undefined
    assert other.returncode != 0 and "not used because" in other.stderr
