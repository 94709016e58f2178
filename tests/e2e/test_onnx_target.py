"""The ONNX target: the model passes onnx.checker, uses only operators onnxruntime's CPU provider implements,
and onnxruntime matches the simulator on every spike and membrane of every layer and step (synthetic graphs,
real MNIST with the bundled model, real N-MNIST with a stream graph); a reset wrong by one unit fails."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from onnx import numpy_helper  # noqa: E402

from qsnn_deploy.errors import VerificationError  # noqa: E402
from qsnn_deploy.ir.synthetic import random_graph, random_inputs  # noqa: E402
from qsnn_deploy.targets import generate  # noqa: E402
from qsnn_deploy.targets.onnx.graph import reset_threshold  # noqa: E402
from qsnn_deploy.targets.static_check import StaticCheckError  # noqa: E402
from qsnn_deploy.targets.verifier import verify  # noqa: E402
from tests.golden_check import check_golden  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden" / "onnx"
# The operators the target may emit: each one runs in onnxruntime's CPU provider for the types used here.
ALLOWED_OPS = {"ConvInteger", "MatMulInteger", "Flatten", "Slice", "Reshape", "ReduceSum", "Cast", "Mul", "Add",
               "Sub", "Div", "Less", "Greater", "Where", "Clip", "ReduceMax"}  # fmt: skip


@pytest.mark.parametrize("arch", ["mnist", "tiny-stream"])
def test_model_passes_the_checker_with_supported_operators_only(tmp_path: Path, arch: str) -> None:
    graph = random_graph(arch, 1, reset="zero")
    files = generate(graph, "onnx", tmp_path)
    assert [p.name for p in files] == ["model.onnx", "qsnn-target.json"]
    model = onnx.load(str(tmp_path / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    used = {node.op_type for node in model.graph.node}
    assert used <= ALLOWED_OPS, used - ALLOWED_OPS
    assert {"ConvInteger", "MatMulInteger", "ReduceSum"} <= used
    lifs = [op.name for op in graph.lif_layers()]
    assert [i.name for i in model.graph.input] == ["frame"] + [f"{n}_membrane_in" for n in lifs]


@pytest.mark.parametrize(
    "arch,state_bits,reset",
    [("tiny", 16, "subtract"), ("tiny", 32, "zero"), ("mnist", 16, "zero"), ("mnist", 32, "subtract"),
     ("tiny-stream", 16, "subtract"), ("dvs", 32, "zero")],
)  # fmt: skip
def test_bit_exact_on_synthetic_graphs(arch: str, state_bits: int, reset: str) -> None:
    graph = random_graph(arch, 3, state_bits=state_bits, reset=reset)
    inputs = random_inputs(graph, 12, seed=5)
    result = verify(graph, inputs, target="onnx")
    assert result.executor == "onnxruntime"
    assert result.compared.layer_values > 0, "every layer compared in full, not as digests"
    assert result.sim.counts.sum() > 0, "a silent network would prove nothing"


def test_bit_exact_on_100_real_mnist_images(tmp_path: Path, data_dir: Path) -> None:
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.export import export_checkpoint

    graph = export_checkpoint(ROOT / "examples" / "mnist" / "model.pt").graph
    data = load_dataset("mnist", "test", data_dir=data_dir, limit=100)
    generate(graph, "onnx", tmp_path)
    result = verify(graph, data.inputs, target="onnx", from_dir=tmp_path)
    assert result.samples == 100 and result.steps == graph.num_steps
    assert np.mean(result.predictions == data.labels) > 0.9


def test_bit_exact_on_100_real_nmnist_streams(data_dir: Path) -> None:
    from qsnn_deploy.data import load_dataset

    graph = random_graph("nmnist", 1, reset="subtract")
    data = load_dataset("nmnist", "test", data_dir=data_dir, limit=100, num_steps=graph.num_steps)
    assert graph.input.encoding == "stream" and data.inputs.shape[:2] == (100, graph.num_steps)
    result = verify(graph, data.inputs, target="onnx")
    assert result.samples == 100
    assert result.sim.counts.sum() > 0


def test_a_reset_off_by_one_fails_verification(tmp_path: Path) -> None:
    """Mutation: the subtract reset of the first LIF layer removes threshold + 1 instead of threshold."""
    graph = random_graph("tiny", 2, reset="subtract")
    inputs = random_inputs(graph, 8, seed=1)
    generate(graph, "onnx", tmp_path)
    verify(graph, inputs, target="onnx", from_dir=tmp_path)  # the unmutated model passes
    path = tmp_path / "model.onnx"
    model = onnx.load(str(path))
    name = reset_threshold(graph.lif_layers()[0])
    (init,) = [i for i in model.graph.initializer if i.name == name]
    init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) + 1, name))
    onnx.save(model, str(path))
    with pytest.raises(StaticCheckError, match=name):
        verify(graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True)
    with pytest.raises(VerificationError, match="differ"):
        verify(
            graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True, check_constants_first=False
        )


@pytest.mark.parametrize("arch", ["tiny", "mnist"])
def test_max_pooling_is_bit_exact(arch: str) -> None:
    """Max pooling with some channels pooled by their minimum (sign -1), every layer of every step compared."""
    graph = random_graph(arch, 3, pool="max")
    signs = np.concatenate([op.sign for op in graph.ops if op.kind == "maxpool2d"])
    assert (signs == -1).any() and (signs == 1).any()
    result = verify(graph, random_inputs(graph, 12, seed=5), target="onnx")
    assert result.compared.layer_values > 0
    assert result.sim.counts.sum() > 0


def test_a_max_pool_sign_flipped_fails_verification(tmp_path: Path) -> None:
    """Mutation: one channel's maximum taken as a minimum (its sign flipped) must not pass."""
    graph = random_graph("tiny", 3, pool="max")
    inputs = random_inputs(graph, 8, seed=1)
    generate(graph, "onnx", tmp_path)
    verify(graph, inputs, target="onnx", from_dir=tmp_path)
    path = tmp_path / "model.onnx"
    model = onnx.load(str(path))
    (init,) = [i for i in model.graph.initializer if i.name == "pool1_sign"]
    sign = numpy_helper.to_array(init).copy()
    sign[0] = -sign[0]
    init.CopyFrom(numpy_helper.from_array(sign, init.name))
    onnx.save(model, str(path))
    with pytest.raises(StaticCheckError, match="pool1_sign"):
        verify(graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True)
    with pytest.raises(VerificationError, match="differ"):
        verify(
            graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True, check_constants_first=False
        )


def model_text(model_dir: Path, out: Path) -> Path:
    """``model_dir/model.onnx`` in ONNX's text form (every initializer's values, node, input, output and
    metadata entry), then the graph's doc string: a reviewable snapshot of the binary model."""
    model = onnx.load(str(model_dir / "model.onnx"))
    out.write_text(onnx.printer.to_text(model) + "\n# doc_string: " + model.graph.doc_string + "\n")
    return out


def test_golden_snapshot(tmp_path: Path) -> None:
    """Set QSNN_UPDATE_GOLDEN=1 to rewrite tests/golden/onnx/ after an intended change (see its README). A graph
    without synaptic or recurrent ops renders as it did before IR version 3."""
    generate(random_graph("tiny", 0), "onnx", tmp_path / "tiny")
    check_golden([model_text(tmp_path / "tiny", tmp_path / "tiny.onnx.txt")], GOLDEN)
