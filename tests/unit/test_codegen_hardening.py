"""Issue 23, the smaller things (item 8) that codegen and the NIR import did wrong:

- codegen refused nothing that simulate, verify and report refuse (an accumulator of int8 or uint32, an int8
  requantize output): now one shared rule, before a file is written;
- it printed ``wrote`` for every file already in ``--out``: now only for the files it wrote;
- a FIFO at a later file left new files beside stale ones: every destination is checked first, then all are
  written (``write_files_atomic``);
- ``--option dt=1e400`` (nir) wrote tau = inf: a dt that is not finite and above 0, or that makes a LIF's NIR
  parameters infinite, is one line;
- a NaN LIF parameter in a NIR import read as "differs between neurons".

The lock that keeps two codegens apart and the paths with spaces are tested with real processes and real
tools in tests/e2e/test_codegen_hardening.py.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.atomic import write_files_atomic
from qsnn_deploy.errors import DesignRuleError, IRValidationError, UnsupportedLayerError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.io import save_graph
from qsnn_deploy.ir.synthetic import random_graph, random_inputs
from qsnn_deploy.ir.types import IntType
from qsnn_deploy.outputs import OutputPathError
from qsnn_deploy.sim import simulate
from qsnn_deploy.targets import generate, target_names
from qsnn_deploy.targets.base import TargetOptions
from tests.cli_run import error_lines, run_main


@pytest.fixture(scope="module")
def tiny() -> Graph:
    return random_graph("tiny", 0, num_steps=4)  # conv1 pool1 rq1 lif1 conv2 pool2 rq2 lif2 fc1 rq3 lif3


def retyped(graph: Graph, name: str, **types: IntType) -> Graph:
    return replace(graph, ops=tuple(replace(op, **types) if op.name == name else op for op in graph.ops))


def tree(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) by relative path, with its bytes."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


# --- a. the declared types: one rule for codegen, simulate, verify and report ---------------------------------

NARROW = {
    "acc_type int8": ("conv1", {"acc_type": IntType(8)}, "conv2d 'conv1'"),
    "acc_type uint32": ("fc1", {"acc_type": IntType(32, signed=False)}, "linear 'fc1'"),
    "out_type int8": ("rq1", {"out_type": IntType(8)}, "requantize 'rq1'"),
}


@pytest.mark.parametrize("target", target_names())
@pytest.mark.parametrize("case", list(NARROW))
def test_codegen_refuses_a_declared_type_the_simulator_refuses(tmp_path, tiny, target, case) -> None:
    if target in ("onnx", "nir"):
        pytest.importorskip(target)
    name, types, op = NARROW[case]
    graph = retyped(tiny, name, **types)
    with pytest.raises(IRValidationError) as sim:
        simulate(graph, random_inputs(graph, 1))
    with pytest.raises(DesignRuleError) as gen:
        generate(graph, target, tmp_path / "out")
    assert gen.value.rule == "declared_types_hold" and op in str(gen.value)
    assert str(sim.value).split(": ", 1)[1] in str(gen.value), "the same check gives the same words"
    assert not (tmp_path / "out").exists(), "refused before anything is written"


def test_a_declared_type_that_holds_is_still_generated(tmp_path, tiny) -> None:
    # conv1's values fit int32 whatever the sign of the weights; its partial sums fit 24 bits
    generate(retyped(tiny, "conv1", acc_type=IntType(24)), "c", tmp_path / "out")
    assert (tmp_path / "out" / "qsnn_model.c").is_file()


def test_the_cli_refuses_a_narrow_type_in_one_line(monkeypatch, capsys, tmp_path, tiny) -> None:
    model = save_graph(retyped(tiny, "conv1", acc_type=IntType(8)), tmp_path / "m.qsnn")
    code, out, err = run_main(monkeypatch, capsys, "codegen", model, "--target", "c", "--out", tmp_path / "o")
    assert code == 2 and len(error_lines(err)) == 1 and "beyond its declared int8" in err, out + err
    assert "Traceback" not in err and not (tmp_path / "o").exists()


# --- b. only the files written are listed ------------------------------------------------------------------


def test_codegen_lists_only_the_files_it_wrote(monkeypatch, capsys, tmp_path, tiny) -> None:
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "sub").mkdir()
    (out / "sub" / "old.c").write_text("also mine")
    model = save_graph(tiny, tmp_path / "m.qsnn")
    code, stdout, err = run_main(monkeypatch, capsys, "codegen", model, "--target", "c", "--out", out)
    assert code == 0, err
    listed = sorted(line.split()[1] for line in stdout.splitlines() if line.startswith("wrote "))
    written = sorted(str(p) for p in generate(tiny, "c", tmp_path / "fresh"))
    assert listed == [w.replace(str(tmp_path / "fresh"), str(out)) for w in written]
    assert "notes.txt" not in stdout and "old.c" not in stdout
    assert (out / "notes.txt").read_text() == "mine", "other files are left alone"


# --- c. all files or none ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["c", "hls", "verilog"])
def test_a_fifo_at_a_later_file_leaves_the_folder_as_it_was(tmp_path, tiny, target) -> None:
    out = tmp_path / "o"
    generate(tiny, target, out)  # the stale version
    before = tree(out)
    later = sorted(before)[-1]  # the last file written in sorted order
    (out / later).unlink()
    os.mkfifo(out / later)
    before.pop(later)
    newer = random_graph("tiny", 1, num_steps=4)  # other weights: every data file differs
    with pytest.raises(OutputPathError, match="is a FIFO"):
        generate(newer, target, out)
    assert tree(out) == before, "no new file beside the stale ones, no temporary left"


def test_write_files_atomic_checks_every_destination_first(tmp_path) -> None:
    (tmp_path / "b").mkdir()  # a folder where the second file goes
    with pytest.raises(OutputPathError, match="is a folder"):
        write_files_atomic({tmp_path / "a": b"1", tmp_path / "b": b"2"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_write_files_atomic_replaces_every_file(tmp_path) -> None:
    (tmp_path / "a").write_bytes(b"old")
    assert write_files_atomic({tmp_path / "a": b"new", tmp_path / "s" / "b": b"2"}) == [
        tmp_path / "a",
        tmp_path / "s" / "b",
    ]
    assert tree(tmp_path) == {"a": b"new", "s/b": b"2"}


def test_a_failed_write_leaves_no_temporary(tmp_path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root writes into a read-only folder")
    ro = tmp_path / "ro"
    ro.mkdir()
    (tmp_path / "a").write_bytes(b"old")
    ro.chmod(0o500)
    try:
        with pytest.raises(OutputPathError, match="cannot write"):
            write_files_atomic({tmp_path / "a": b"new", ro / "b": b"2"})
    finally:
        ro.chmod(0o700)
    assert tree(tmp_path) == {"a": b"old"}


# --- e. the NIR target's time step -------------------------------------------------------------------------


@pytest.mark.parametrize("dt", ["1e400", "inf", "nan", "0", "-1e-4", "1e-400", "abc", "1e308"])
def test_a_time_step_that_gives_no_finite_nir_is_refused(monkeypatch, capsys, tmp_path, tiny, dt) -> None:
    pytest.importorskip("nir")
    model = save_graph(tiny, tmp_path / "m.qsnn")
    args = ["codegen", model, "--target", "nir", "--out", tmp_path / "o", "--option", f"dt={dt}"]
    code, out, err = run_main(monkeypatch, capsys, *args)
    assert code == 2 and len(error_lines(err)) == 1 and "time_step" in err, out + err
    assert ("not finite" in err or "finite number above 0" in err) and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_a_plain_time_step_writes_finite_parameters(tmp_path, tiny) -> None:
    nir = pytest.importorskip("nir")
    generate(tiny, "nir", tmp_path / "o", options=TargetOptions(extra={"dt": "1e-3"}))
    written = nir.read(tmp_path / "o" / "model.nir")
    params = [
        np.asarray(getattr(n, f)) for n in written.nodes.values() for f in ("tau", "r") if hasattr(n, f)
    ]
    assert params and all(np.isfinite(p).all() for p in params)
    assert float(written.metadata["dt"]) == 1e-3


# --- h. NaN LIF parameters in a NIR import -----------------------------------------------------------------


@pytest.mark.parametrize("field", ["tau", "r", "v_threshold", "v_leak"])
def test_a_nan_lif_parameter_is_named_as_not_finite(field) -> None:
    nir = pytest.importorskip("nir")
    from qsnn_deploy.interop.nir_import import import_nir

    values = {"tau": np.full(4, 1e-3), "r": np.ones(4), "v_leak": np.zeros(4), "v_threshold": np.ones(4)}
    values[field] = np.full(4, np.nan)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([8])}),
        "fc": nir.Linear(weight=np.random.default_rng(0).normal(0, 0.5, (4, 8)).astype(np.float32)),
        "neurons": nir.LIF(**values),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)
    with pytest.raises(UnsupportedLayerError) as info:
        import_nir(graph, bits=8, num_steps=5, dt=1e-4)
    assert f"'neurons': {field} is not finite" in str(info.value)
    assert "differs between neurons" not in str(info.value)
