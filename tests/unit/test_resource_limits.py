"""Resources are bounded before work (issue 23, item 5): a file inside every count limit can still ask for
terabytes through a product of them, so ir/limits.py bounds the products per sample (LIF neurons x steps, the
largest intermediate, multiply-accumulates x steps, temporary disk, all tensors together), refuses a file
beyond them in one line at load, and the simulator and verify size their batches from the memory budget.
Every hostile file here is written without ``save_graph`` (which refuses it too) and is refused before any
array of its size exists."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import IRFormatError, IRValidationError
from qsnn_deploy.ir import limits, load_graph, save_graph
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.io import MANIFEST, graph_to_manifest
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d
from qsnn_deploy.ir.synthetic import random_graph, spike_pool_graph
from qsnn_deploy.ir.types import UINT8, IntType
from qsnn_deploy.sim import executor
from tests.cli_run import error_lines, run_main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ir"
W4 = IntType(4)


def _head(name: str, channels: int) -> tuple:
    """requantize + LIF after an op of ``channels`` output channels."""
    ones, zeros = np.ones(channels, np.int64), np.zeros(channels, np.int64)
    return (
        Requantize(f"rq_{name}", ones, zeros + (1 << 10), 0, IntType(32)),
        LIF(f"lif_{name}", 1 << 12, 250, 8, "subtract", IntType(32)),
    )


def wide_conv_graph(steps: int) -> Graph:
    """The red team's graph: a 1x1 conv with padding 64 on a 2x2 frame, 23 channels of 130x130 = 388,700 LIF
    neurons, every tensor tiny (the spikes are summed by a 64x64 pool before the readout)."""
    rng = np.random.default_rng(0)
    ops = (
        Conv2d("conv", rng.integers(-7, 8, (23, 1, 1, 1)), W4, padding=64),
        *_head("conv", 23),
        SumPool2d("pool", 64),
        Linear("fc", rng.integers(-7, 8, (10, 23 * 2 * 2)), W4),
        *_head("fc", 10),
    )
    return Graph(InputSpec((1, 2, 2), UINT8, "static", 1 / 255), ops, steps)


def write_unchecked(graph: Graph, path: Path) -> Path:
    """``graph`` as a .qsnn file, written as a stranger would: without the checks of ``save_graph``."""
    manifest, tensors = graph_to_manifest(graph)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, json.dumps(manifest))
        for key, arr in tensors.items():
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
            zf.writestr(f"tensors/{key}.npy", buf.getvalue())
    return path


NEURONS = limits.footprint(wide_conv_graph(1)).neurons  # 388,710 with the readout
UNDER = limits.MAX_NEURON_STEPS // NEURONS  # the most steps inside the budget: 43


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resources")
    write_unchecked(wide_conv_graph(1000), root / "hostile.qsnn")
    save_graph(wide_conv_graph(UNDER), root / "under.qsnn")
    np.save(root / "x.npy", np.random.default_rng(0).integers(0, 256, (2, 1, 2, 2)).astype(np.uint8))
    return root


@pytest.mark.parametrize(
    "command",
    [
        ["verify", "{m}", "--inputs", "{x}", "--limit", "1"],
        ["verify", "{m}", "--inputs", "{x}", "--limit", "1", "--target", "onnx"],
        ["simulate", "--model", "{m}", "--inputs", "{x}"],
        ["codegen", "{m}", "--out", "{o}"],
    ],
    ids=["verify-c", "verify-onnx", "simulate", "codegen"],
)
def test_the_red_team_graph_is_refused_in_one_line_before_any_work(
    monkeypatch, capsys, files: Path, tmp_path: Path, command: list[str]
):
    """389k neurons x 1,000 steps took 17 GB of memory and 1.9 GB of temp disk in ``verify --limit 1``: now
    every command refuses the file at load, in one line naming the figure and its limit, in well under a
    second and without allocating anything of the graph's size (tracemalloc sees numpy's allocations)."""
    args = [a.format(m=files / "hostile.qsnn", x=files / "x.npy", o=tmp_path / "out") for a in command]
    tracemalloc.start()
    start = time.perf_counter()
    code, out, err = run_main(monkeypatch, capsys, *args)
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert code == 2, (out, err)
    lines = error_lines(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "388,710,000 LIF neurons x steps" in lines[0] and f"{limits.MAX_NEURON_STEPS:,}" in lines[0]
    assert "hostile.qsnn" in lines[0]
    assert seconds < 2.0, seconds
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB allocated before the refusal"
    assert not (tmp_path / "out").exists()


def test_a_graph_just_under_the_budget_loads_and_one_step_more_is_refused(files: Path, tmp_path: Path):
    graph = load_graph(files / "under.qsnn")
    assert limits.footprint(graph).neuron_steps <= limits.MAX_NEURON_STEPS < NEURONS * (UNDER + 1)
    with pytest.raises(IRValidationError, match="LIF neurons x steps"):
        save_graph(wide_conv_graph(UNDER + 1), tmp_path / "over.qsnn")


def test_num_steps_from_the_command_line_is_checked_before_anything_is_built(
    monkeypatch, capsys, files: Path
):
    """The file is inside the budget at its own steps; ``--num-steps`` asking more is refused by verify and
    simulate before any data is read (the --inputs file does not even exist: that error would come first
    otherwise) and so before the target is rendered or a sample simulated."""
    missing = files / "no-such-inputs.npy"
    for args in (
        ["verify", files / "under.qsnn", "--inputs", missing, "--num-steps", UNDER + 1],
        ["simulate", "--model", files / "under.qsnn", "--inputs", missing, "--num-steps", UNDER + 1],
    ):
        start = time.perf_counter()
        code, _, err = run_main(monkeypatch, capsys, *args)
        assert code == 2 and len(error_lines(err)) == 1, err
        assert f"over {UNDER + 1} steps" in err and "LIF neurons x steps" in err
        assert time.perf_counter() - start < 2.0


def test_batches_and_verify_chunks_are_sized_from_the_budget(files: Path):
    """The graph at the budget gets one sample per batch and per verify chunk (its record alone is 16.7M
    values); the paper's MNIST network keeps the batch of 64, and verify checks 221 of its samples at a time
    at 25 steps (their records take 0.9 GiB; 500 took 2 GiB before)."""
    big = load_graph(files / "under.qsnn")
    assert executor.samples_per_batch(big, UNDER, record=True) == 1
    assert executor.samples_per_record(big, UNDER) == 1
    # what one batch then holds stays within the budget for every worker count
    fp = limits.footprint(big)
    for workers in (1, 2, 16):
        n = executor.samples_per_batch(big, UNDER, workers=workers)
        assert n * 8 * executor.LIVE_ARRAYS * fp.largest <= limits.MEMORY_BUDGET_BYTES // workers or n == 1
    paper = random_graph("mnist", num_steps=25)
    assert executor.samples_per_batch(paper, 25, workers=2) >= executor.DEFAULT_BATCH
    assert executor.samples_per_record(paper, 25) == 221


def test_simulate_cuts_its_batches_to_the_budget_and_the_result_does_not_change(files: Path, monkeypatch):
    """Asked for one batch of 64, ``simulate`` runs batches of at most ``samples_per_batch``: with a budget
    that holds one sample of the wide graph, two samples run one at a time, with the same result."""
    graph = wide_conv_graph(3)
    x = np.load(files / "x.npy")
    whole = executor.simulate(graph, x, batch_size=64, record=True, workers=1)
    per_sample = limits.MEMORY_BUDGET_BYTES // executor.samples_per_batch(graph, 3, record=True)
    monkeypatch.setattr(limits, "MEMORY_BUDGET_BYTES", per_sample)  # room for one sample
    assert executor.samples_per_batch(graph, 3, record=True) == 1
    batches: list[int] = []
    cut = executor.simulate(graph, x, batch_size=64, record=True, progress=batches.append, workers=1)
    assert batches == [1, 1]
    np.testing.assert_array_equal(cut.output_spikes, whole.output_spikes)
    for name, spikes in whole.layer_spikes.items():
        np.testing.assert_array_equal(cut.layer_spikes[name], spikes)
        np.testing.assert_array_equal(cut.layer_membranes[name], whole.layer_membranes[name])


def _refused(graph: Graph, fragment: str) -> None:
    with pytest.raises(IRValidationError, match=fragment) as info:
        limits.check_fields(graph)
        graph.validate()
        limits.check_sizes(graph)
    assert "\n" not in str(info.value)


def test_the_largest_intermediate_is_bounded_im2col_included():
    """Each activation is small (64x64x64 in, 32x32 out) but one conv's im2col matrix of one frame is
    32*32 output pixels x 33*33 taps x 64 channels = 71M values (570 MB of int64)."""
    rng = np.random.default_rng(0)
    ops = (Conv2d("conv", rng.integers(-7, 8, (1, 64, 33, 33)), W4), *_head("conv", 1))
    ops += (Linear("fc", rng.integers(-7, 8, (2, 1024)), W4), *_head("fc", 2))
    _refused(Graph(InputSpec((64, 64, 64), UINT8, "static", 1.0), ops, 1), "largest intermediate")


def test_multiply_accumulates_x_steps_are_bounded():
    """A 4096 x 2048 linear layer (8M weights, inside every count) over 2,000 steps: 16.8G multiply-
    accumulates per sample, minutes of work per sample."""
    ops = (Linear("fc", np.zeros((2048, 4096), np.int8), W4), *_head("fc", 2048))
    ops += (Linear("out", np.zeros((2, 2048), np.int8), W4), *_head("out", 2))
    graph = Graph(InputSpec((1, 64, 64), UINT8, "static", 1.0), ops, 2000)
    _refused(graph, "multiply-accumulates x steps")
    assert limits.check_budget(graph, 100).synaptic_ops < limits.MAX_SYNAPTIC_OPS  # 100 steps are fine


def test_temporary_disk_per_sample_is_bounded():
    """A stream of 16x256x256 frames over 300 steps: few neurons, but the vectors verify writes for one
    sample are 315 MB."""
    ops = (Conv2d("conv", np.ones((1, 16, 64, 64), np.int8), W4, stride=64), *_head("conv", 1))
    ops += (Linear("fc", np.ones((2, 16), np.int8), W4), *_head("fc", 2))
    _refused(Graph(InputSpec((16, 256, 256), UINT8, "stream", 1.0), ops, 300), "temporary files")


def test_all_tensors_together_are_bounded_as_the_file_is_read(tmp_path: Path):
    """Two weight tensors, each inside the per-tensor limit, over the total: refused at load as soon as the
    second is read, before the ops after it (whose shapes do not even fit: the check comes first)."""
    half = limits.MAX_GRAPH_TENSOR_VALUES // 2 + 1
    ops = (Linear("fc1", np.zeros((1, half), np.int8), W4), *_head("fc1", 1))
    ops += (Linear("fc2", np.zeros((half, 1), np.int8), W4), *_head("fc2", 2))
    graph = Graph(InputSpec((1, 1, half), UINT8, "static", 1.0), ops, 1)
    with pytest.raises(IRValidationError, match="tensors hold .* values together"):
        load_graph(write_unchecked(graph, tmp_path / "many.qsnn"))


def test_the_real_networks_are_far_inside_every_budget():
    """The budgets are set by the machine, not by the networks, and the networks are far inside them: the
    fixtures, the paper's DVS and MNIST presets at 100 steps, the Sinabs-shaped CNN at 100 steps (docs
    figures). At least 10x below every bound."""
    graphs = [load_graph(p) for p in sorted(FIXTURES.glob("v*/*.qsnn"))]
    graphs += [random_graph(arch, conv1_channels=16, num_steps=100) for arch in ("mnist", "dvs", "nmnist")]
    graphs.append(spike_pool_graph(channels=(8, 16, 16), num_steps=100))
    for graph in graphs:
        fp = limits.check_budget(graph)
        assert fp.neuron_steps * 10 <= limits.MAX_NEURON_STEPS
        assert fp.largest * 100 <= limits.MAX_INTERMEDIATE
        assert fp.synaptic_ops * 10 <= limits.MAX_SYNAPTIC_OPS
        assert fp.temp_bytes * 10 <= limits.MAX_SAMPLE_TEMP_BYTES
        weights = sum(a.size for op in graph.ops for a in op.tensors().values())
        assert weights * 100 <= limits.MAX_GRAPH_TENSOR_VALUES


def _tiny_with_scale(tmp_path: Path, scale: str) -> Path:
    path = save_graph(random_graph("tiny", 0, num_steps=2), tmp_path / "tiny.qsnn")
    out = tmp_path / "scaled.qsnn"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == MANIFEST:
                manifest = json.loads(data)
                manifest["input"]["scale"] = json.loads(scale)  # a JSON boolean where a number belongs
                data = json.dumps(manifest).encode()
                assert f'"scale": {scale}' in data.decode()
            dst.writestr(info.filename, data)
    return out


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_boolean_input_scale_is_refused_not_read_as_a_number(monkeypatch, capsys, tmp_path, value):
    path = _tiny_with_scale(tmp_path, value)
    with pytest.raises(IRFormatError, match="'scale' must be int/float, got a boolean"):
        load_graph(path)
    code, _, err = run_main(monkeypatch, capsys, "codegen", path, "--out", tmp_path / "out")
    assert code == 2 and len(error_lines(err)) == 1 and "boolean" in err


def test_a_boolean_is_no_number_in_a_graph_built_in_python():
    graph = random_graph("tiny", 0, num_steps=2)
    for bad in (
        Graph(InputSpec(graph.input.shape, UINT8, "static", True), graph.ops, 2),
        Graph(graph.input, graph.ops, True),
    ):
        with pytest.raises(IRValidationError, match="scale|num_steps"):
            limits.check_fields(bad)


def test_verify_checks_as_many_samples_at_once_as_the_temp_disk_budget_allows(monkeypatch):
    """verify's chunks follow ``samples_per_record``: with room for one sample's executor files, three
    samples are checked one by one (each chunk's files replace the last), and all three still compared."""
    from qsnn_deploy.ir.synthetic import random_inputs
    from qsnn_deploy.targets.verifier import verify

    graph = random_graph("tiny", 0, num_steps=3)
    monkeypatch.setattr(limits, "TEMP_BUDGET_BYTES", limits.footprint(graph).temp_bytes)
    assert executor.samples_per_record(graph, 3) == 1
    chunks: list[int] = []
    result = verify(graph, random_inputs(graph, 3, seed=2), target="onnx", progress=chunks.append)
    assert chunks == [1, 1, 1] and result.compared.samples == 3


def test_a_nir_graph_beyond_the_budget_is_refused_at_import_before_the_float_check():
    """import checks the IR it makes against every limit and budget (ir/io.check_graph) before the float chain
    and the simulator run on it: 20,000 IF neurons x 1,000 steps is past the neuron-step budget."""
    nir = pytest.importorskip("nir")
    from qsnn_deploy.interop.nir_import import import_nir

    rng = np.random.default_rng(0)
    wide = 20_000
    nodes = {
        "input": nir.Input(input_type={"input": np.array([10])}),
        "fc1": nir.Affine(
            weight=rng.normal(0, 0.5, (wide, 10)).astype(np.float32), bias=np.zeros(wide, np.float32)
        ),
        "n1": nir.IF(r=np.ones(wide), v_threshold=np.ones(wide)),
        "output": nir.Output(output_type={"output": np.array([wide])}),
    }
    names = list(nodes)
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), type_check=False)
    with pytest.raises(IRValidationError, match="neurons x steps|neuron"):
        import_nir(graph, bits=8, num_steps=1_000, dt=1.0, convention="sinabs")
    assert import_nir(graph, bits=8, num_steps=100, dt=1.0, convention="sinabs").graph.num_steps == 100
