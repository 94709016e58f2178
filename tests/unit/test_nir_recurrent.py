"""NIR graphs with a recurrent layer (the NIR paper's Braille layout: 12 -> Affine 40 -> CubaLIF 40 with a
recurrent Linear 40x40 from its spikes back into its input -> Linear 7 -> CubaLIF 7), built with nir's own API in
the three spellings of such a layer (plain edges, snnTorch's ``lif1`` subgraph, and the ``lif1.lif`` /
``lif1.w_rec`` nodes of a flattened one): imported at 8 and 4 bits as ``requantize recurrent synaptic lif``,
against a float reference of NIR's CubaLIF equations written here, simulator == int64 reference; and every
other cycle refused in one line naming the node."""

from __future__ import annotations

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.errors import UnsupportedLayerError  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, quantize_per_tensor  # noqa: E402
from qsnn_deploy.ir.ops import Recurrent  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from qsnn_deploy.sim.reference import simulate_reference  # noqa: E402
from tests.unit.test_nir_cubalif import BETAS, DT, TAU_SYN_STEPS, cuba, cubalif_layers, probe, quantized  # noqa: E402

STEPS = 40


def braille_nodes(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "input": nir.Input(input_type={"input": np.array([12])}),
        "fc1": nir.Affine(
            weight=rng.normal(0, 0.6, (40, 12)).astype(np.float32), bias=np.zeros(40, np.float32)
        ),
        "lif1": cuba(40, TAU_SYN_STEPS[0], BETAS[0]),
        "w_rec": nir.Linear(weight=rng.normal(0, 0.15, (40, 40)).astype(np.float32)),
        "fc2": nir.Linear(weight=rng.normal(0, 0.5, (7, 40)).astype(np.float32)),
        "lif2": cuba(7, TAU_SYN_STEPS[1], BETAS[1]),
        "output": nir.Output(output_type={"output": np.array([7])}),
    }


def braille(seed: int = 0, layout: str = "plain") -> nir.NIRGraph:
    """The Braille layout: ``plain`` edges lif1 <-> w_rec; ``subgraph``: snnTorch's export_to_nir of an
    RSynaptic (a ``lif1`` NIRGraph holding input, lif, w_rec, output); ``flat``: its nodes in the main graph as
    ``lif1.input``, ``lif1.lif``, ``lif1.w_rec``, ``lif1.output``."""
    n = braille_nodes(seed)
    chain = [("input", "fc1"), ("fc2", "lif2"), ("lif2", "output")]
    if layout == "plain":
        edges = [*chain, ("fc1", "lif1"), ("lif1", "w_rec"), ("w_rec", "lif1"), ("lif1", "fc2")]
        return nir.NIRGraph(nodes=n, edges=edges)
    inner = {
        "input": nir.Input(input_type={"input": np.array([40])}),
        "lif": n.pop("lif1"),
        "w_rec": n.pop("w_rec"),
        "output": nir.Output(output_type={"output": np.array([40])}),
    }
    inner_edges = [("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")]
    if layout == "subgraph":
        n["lif1"] = nir.NIRGraph(nodes=inner, edges=inner_edges, type_check=False)
        edges = [*chain, ("fc1", "lif1"), ("lif1", "fc2")]
    else:
        n.update({f"lif1.{k}": v for k, v in inner.items()})
        edges = [*chain, ("fc1", "lif1.input"), ("lif1.output", "fc2")]
        edges += [(f"lif1.{a}", f"lif1.{b}") for a, b in inner_edges]
    return nir.NIRGraph(nodes=n, edges=edges, type_check=False)


def recurrent_reference(x: np.ndarray, bits: int, reset: str, seed: int = 0):
    """NIR's CubaLIF equations (test_nir_cubalif.cubalif_layers) on the Braille layout: the hidden layer's
    drive is ``W1 x + W_rec s[t-1]``, weights quantized to ``bits`` as import does. Returns (output spike counts
    (N, 7), spike totals per layer)."""
    n = braille_nodes(seed)
    q = {k: quantized(n[k].weight, bits) for k in ("fc1", "w_rec", "fc2")}
    layers = [(q["fc1"], n["lif1"], q["w_rec"]), (q["fc2"], n["lif2"], None)]
    return cubalif_layers(x, layers, reset, STEPS)


def load(graph, bits: int, reset: str = "subtract"):
    return import_nir(graph, bits=bits, num_steps=STEPS, dt=DT, encoding="static", input_scale=1 / 255,
                      reset=reset, convention="nir")  # fmt: skip


@pytest.mark.parametrize(("bits", "reset"), [(8, "subtract"), (4, "zero"), (8, "zero"), (4, "subtract")])
def test_braille_layout_imports_and_matches_nirs_equations(bits: int, reset: str) -> None:
    result = load(braille(), bits, reset)
    ir = result.graph
    kinds = [
        "linear",
        "requantize",
        "recurrent",
        "synaptic",
        "lif",
        "linear",
        "requantize",
        "synaptic",
        "lif",
    ]
    assert [op.kind for op in ir.ops] == kinds
    assert ir.feedback() == {"lif1": "lif1_recurrent"}
    rec = next(op for op in ir.ops if isinstance(op, Recurrent))
    w_int, _ = quantize_per_tensor(np.asarray(braille_nodes()["w_rec"].weight, np.float64), bits)
    assert np.array_equal(rec.weight, w_int) and rec.weight_type.bits == bits
    assert ir.metadata["nir_import"]["nodes"]["lif1_recurrent"] == "w_rec"

    raw = probe()
    sim = simulate(ir, raw, STEPS, record=True)
    ref_counts, ref_totals = recurrent_reference(raw.reshape(len(raw), 12) / 255.0, bits, reset)
    ints = [int(sim.spike_counts[name].sum()) for name in ("lif1", "lif2")]
    assert all(t > 0 for t in ref_totals), ref_totals
    for f, i in zip(ref_totals, ints, strict=True):
        assert abs(i - f) <= 0.03 * f, (ref_totals, ints)
    assert np.mean(np.argmax(ref_counts, axis=1) == sim.predictions) >= 14 / 16
    assert result.check["prediction_agreement"] >= 15 / 16  # the import's own float chain says the same

    exact = simulate_reference(ir, raw, STEPS, record=True)
    np.testing.assert_array_equal(sim.output_spikes, exact.output_spikes)
    for name in ("lif1", "lif2"):
        np.testing.assert_array_equal(sim.layer_membranes[name], exact.layer_membranes[name])
    for name, current in sim.layer_currents.items():
        np.testing.assert_array_equal(current, exact.op_outputs[name])


@pytest.mark.parametrize("layout", ["subgraph", "flat"])
def test_snntorchs_spellings_import_as_the_plain_layout(layout: str) -> None:
    plain = load(braille(), 8).graph
    other = load(braille(layout=layout), 8)
    ops = other.graph.ops
    assert [op.kind for op in ops] == [op.kind for op in plain.ops]
    for a, b in zip(ops, plain.ops, strict=True):
        for f in ("weight", "multiplier", "bias"):
            if hasattr(a, f):
                assert np.array_equal(getattr(a, f), getattr(b, f)), (a.name, f)
    lif = "lif1_lif" if layout == "flat" else "lif1_lif"
    assert lif in {op.name for op in ops}
    assert other.graph.metadata["nir_import"]["nodes"][f"{lif}_recurrent"] == "lif1.w_rec"


def test_a_recurrent_bias_joins_the_requantize_bias() -> None:
    graph = braille()
    w = graph.nodes["w_rec"].weight
    graph.nodes["w_rec"] = nir.Affine(weight=w, bias=np.full(40, 0.5, np.float32))
    with_bias = load(graph, 8).graph
    plain = load(braille(), 8).graph
    assert np.all(with_bias.ops[1].bias > plain.ops[1].bias)  # + 0.5 in membrane units, every neuron


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda g: g.nodes.update(w_rec=nir.Conv2d(input_shape=None, weight=np.ones((40, 40, 1, 1)), stride=1,
                                                   padding=0, dilation=1, groups=1, bias=np.zeros(40))),
         "'w_rec' (Conv2d) feeds neuron 'lif1' back"),
        (lambda g: (g.edges.remove(("w_rec", "lif1")), g.edges.append(("w_rec", "fc1"))),
         "node 'lif1' feeds ['w_rec', 'fc2']"),
        (lambda g: g.nodes.update(w_rec=nir.Linear(weight=np.ones((40, 7)))), "recurrent weight of shape (40, 7)"),
    ],
)  # fmt: skip
def test_other_recurrences_are_refused_in_one_line_naming_the_node(mutate, fragment: str) -> None:
    graph = braille()
    mutate(graph)
    with pytest.raises(UnsupportedLayerError) as err:
        load(graph, 8)
    assert fragment in str(err.value)
    assert "\n" not in str(err.value)
