"""Sum pools on spikes on every software target: the NIR paper's N-MNIST CNN shape (two spike pools, one folded
into a 3x3 stride-2 padded conv, which becomes 6x6 stride 4 padding 2, one into a linear) verifies bit-exact
against the simulator on every layer of every step on c/host, c/cortex-m (QEMU), hls (csim) and onnx
(onnxruntime); one folded weight copy changed in each target's generated files fails verify at that layer (the
HLS one with -m slow)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from qsnn_deploy.errors import VerificationError
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Requantize, SumPool2d
from qsnn_deploy.ir.synthetic import random_inputs, spike_pool_graph
from qsnn_deploy.ir.types import UINT8, IntType
from qsnn_deploy.targets import check_model, generate
from qsnn_deploy.targets.static_check import StaticCheckError
from qsnn_deploy.targets.verifier import verify
from tests.toolchains import require_hls, require_tools

pytestmark = pytest.mark.toolchain

N = 3
# conv3's folded weight (O, C, 6, 6): tap (c=0, kh=3, kw=3) is the copy of W[:, 0, 1, 1] at the bottom-right of
# its 2x2 block, a weight the IR conv never names; in the C target's input-major (C, kh, kw, O) order, nibble
# (0 * 36 + 3 * 6 + 3) * 4 = 84 is output channel 0 of it, i.e. packed byte 42; in the HLS ROM it is row 21.
TAP = 3 * 6 + 3


@pytest.fixture(scope="module")
def graph() -> Graph:
    return spike_pool_graph(seed=0)


@pytest.fixture(scope="module")
def inputs(graph: Graph) -> np.ndarray:
    return random_inputs(graph, N, seed=1)


def _neurons(graph: Graph) -> int:
    return sum(layer.neurons for layer in check_model(graph, "c").layers)


def test_the_plan_has_a_stride_4_kernel_6_conv_and_a_folded_linear(graph: Graph) -> None:
    layers = check_model(graph, "c").layers
    conv3, fc1 = layers[2], layers[3]
    assert (conv3.op.weight.shape[2:], conv3.op.stride, conv3.op.padding) == ((6, 6), 4, 2)
    assert fc1.in_pool is not None and fc1.op.weight.shape[1] == 4 * 4 * 4


def test_c_host_equals_the_simulator_on_every_layer(graph: Graph, inputs: np.ndarray) -> None:
    require_tools("gcc")
    result = verify(graph, inputs, target="c")
    assert result.compared.layer_values == 2 * N * graph.num_steps * _neurons(graph)
    assert all(result.sim.spike_counts[lif.name].sum() > 0 for lif in graph.lif_layers())


def test_cortex_m_equals_the_simulator_on_every_layer(graph: Graph, inputs: np.ndarray) -> None:
    require_tools("arm-none-eabi-gcc", "qemu-system-arm", "make")
    result = verify(graph, inputs[:2], target="c", executor="cortex-m")
    assert result.compared.layer_digests == 2 * graph.num_steps * len(graph.lif_layers())


def test_onnx_equals_the_simulator_on_every_layer(graph: Graph, inputs: np.ndarray) -> None:
    pytest.importorskip("onnxruntime")
    result = verify(graph, inputs, target="onnx")
    assert result.compared.layer_values == 2 * N * graph.num_steps * _neurons(graph)


def _input_pool_graph() -> Graph:
    """A sum pool on the uint8 frame itself (no LIF before it) and one on spikes before a linear: the plan folds
    both the same way (the fold is exact for any input; only the range units differ)."""
    rng = np.random.default_rng(0)
    w4 = IntType(4)

    def rq(name: str, channels: int, mult: int) -> Requantize:
        return Requantize(name, np.full(channels, mult), rng.integers(0, 200, channels) << 8, 12, IntType(32))

    ops = (
        SumPool2d("sp0", 2),
        Conv2d("conv1", rng.integers(-7, 8, (4, 1, 3, 3)), w4, 1, 1),
        rq("rq1", 4, 2000),
        LIF("lif1", 3000, 230, 8),
        SumPool2d("sp1", 2),
        Linear("fc", rng.integers(-7, 8, (3, 4 * 4 * 4)), w4),
        rq("rq2", 3, 40000),
        LIF("lif2", 3000, 230, 8),
    )
    return Graph(InputSpec((1, 16, 16), UINT8, "static", 1 / 255), ops, 6).validate()


def test_c_host_takes_a_pool_on_the_input_frame_too() -> None:
    require_tools("gcc")
    graph = _input_pool_graph()
    layers = check_model(graph, "c").layers
    assert [lay.in_pool.name for lay in layers] == ["sp0", "sp1"]  # type: ignore[union-attr]
    result = verify(graph, random_inputs(graph, N, seed=1), target="c")
    assert result.compared.layer_values == 2 * N * graph.num_steps * sum(lay.neurons for lay in layers)
    assert all(result.sim.spike_counts[lif.name].sum() > 0 for lif in graph.lif_layers())


def test_hls_csim_equals_the_simulator_on_every_layer(graph: Graph, inputs: np.ndarray) -> None:
    require_hls()
    result = verify(graph, inputs, target="hls")
    assert result.compared.layer_values == 2 * N * graph.num_steps * _neurons(graph)


def _flip_byte(path: Path, array: str, index: int) -> None:
    """Flip bit 0 of byte ``index`` of the C array ``array`` in ``path`` (a weight nibble of a packed array)."""
    text = path.read_text()
    start = text.index(f"{array}[")
    body_start = text.index("{", start)
    body_end = text.index("};", body_start)
    body = text[body_start:body_end]
    hits = list(re.finditer(r"0x([0-9a-f]{2})", body))
    hit = hits[index]
    flipped = f"0x{int(hit.group(1), 16) ^ 1:02x}"
    body = body[: hit.start()] + flipped + body[hit.end() :]
    path.write_text(text[:body_start] + body + text[body_end:])


@pytest.mark.parametrize(
    ("target", "file", "array", "index"),
    [
        ("c", "qsnn_data.h", "qsnn_conv3_w", TAP * 4 // 2),
        # A second csim build (~15 s on 2 busy cores): opt-in.
        pytest.param("hls", "qsnn_data.h", "conv3_w", TAP * 2, marks=pytest.mark.slow),
    ],
)
def test_a_changed_folded_weight_fails_verify(
    tmp_path: Path, graph: Graph, inputs: np.ndarray, target: str, file: str, array: str, index: int
) -> None:
    require_tools("gcc") if target == "c" else require_hls()
    generate(graph, target, tmp_path / "gen")
    _flip_byte(tmp_path / "gen" / file, array, index)
    edited = dict(target=target, from_dir=tmp_path / "gen", workdir=tmp_path / "w", allow_edited=True)
    # The static check names the changed constant before anything is built ...
    with pytest.raises(StaticCheckError, match=f"{file}:.*conv3 weight"):
        verify(graph, inputs, **edited)
    # ... and without it, running the code catches the change in the layer it feeds.
    with pytest.raises(VerificationError, match="if3"):
        verify(graph, inputs, **edited, check_constants_first=False)


def test_a_changed_folded_weight_fails_onnx_verify(tmp_path: Path, graph: Graph, inputs: np.ndarray) -> None:
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import numpy_helper

    generate(graph, "onnx", tmp_path)
    model = onnx.load(str(tmp_path / "model.onnx"))
    (init,) = [i for i in model.graph.initializer if i.name == "conv3_weight"]
    weight = numpy_helper.to_array(init).copy()
    assert weight.shape == (4, 4, 6, 6)
    weight[0, 0, 3, 3] += 1 if weight[0, 0, 3, 3] < 7 else -1
    init.CopyFrom(numpy_helper.from_array(weight, init.name))
    onnx.save(model, str(tmp_path / "model.onnx"))
    with pytest.raises(StaticCheckError, match="conv3_weight"):
        verify(graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True)
    with pytest.raises(VerificationError, match="if3"):
        verify(
            graph, inputs, target="onnx", from_dir=tmp_path, allow_edited=True, check_constants_first=False
        )


@pytest.mark.slow
def test_the_sinabs_written_nmnist_cnn_verifies_on_every_software_target(data_dir: Path) -> None:
    """Opt-in (-m slow, ~60 s): the N-MNIST CNN as Sinabs wrote it (IF -> SumPool2d -> Conv2d and IF -> SumPool2d
    -> Flatten -> Affine; tests/fixtures/nir/sinabs), imported at 8 bits, on 2 real N-MNIST test samples x 100
    steps: every layer on c/host, hls and onnx, digests on the Cortex-M (1 sample)."""
    require_tools("gcc", "arm-none-eabi-gcc", "qemu-system-arm", "make")
    require_hls()
    pytest.importorskip("onnxruntime")
    from qsnn_deploy.data import load_dataset
    from qsnn_deploy.interop.nir_import import import_nir

    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "nir" / "sinabs" / "nmnist_cnn.nir"
    graph = import_nir(fixture, bits=8, num_steps=100, encoding="stream").graph
    layers = check_model(graph, "c").layers
    assert [lay.in_pool is not None for lay in layers] == [False, False, True, True, False]
    data = load_dataset("nmnist", "test", data_dir=data_dir, limit=2, num_steps=graph.num_steps)
    x = np.asarray(data.inputs, dtype=np.uint8)
    for target in ("c", "hls", "onnx"):
        result = verify(graph, x, target=target)
        assert result.compared.layer_values == 2 * 2 * 100 * sum(lay.neurons for lay in layers)
    assert result.sim.spike_counts[layers[3].lif.name].sum() > 0
    cortex = verify(graph, x[:1], target="c", executor="cortex-m")
    assert cortex.compared.layer_digests == 100 * len(layers)
