"""NIR CubaLIF with a synapse (tau_syn > dt) imported as ``requantize synaptic lif``: graphs built with nir's own
API in the NIR paper's Braille shape without its recurrence (12 -> 40 CubaLIF -> 7 CubaLIF), at 8 and 4 bits,
simulated and compared with a float reference of NIR's CubaLIF equations written here; Rockpool's synapse; and
what stays refused, in one line naming the node."""

from __future__ import annotations

import math

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.errors import UnsupportedLayerError  # noqa: E402
from qsnn_deploy.export.quantize import quantize_decay  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, quantize_per_tensor  # noqa: E402
from qsnn_deploy.ir.ops import Synaptic  # noqa: E402
from qsnn_deploy.sim import simulate  # noqa: E402
from qsnn_deploy.sim.reference import simulate_reference  # noqa: E402

DT = 1e-4
STEPS = 40
TAU_SYN_STEPS = (4.0, 3.0)  # tau_syn of each layer, in steps: alpha = 1 - 1/steps (0.75, 2/3)
BETAS = (0.9, 0.8)


def cuba(n: int, tau_syn_steps: float, beta: float, threshold: float = 1.0, **over):
    """A CubaLIF as snnTorch's export writes a Synaptic: tau_syn = dt/(1 - alpha), tau_mem = dt/(1 - beta),
    r = tau_mem/dt and w_in = tau_syn/dt (gain 1 on both equations)."""
    tau_syn, tau_mem = DT * tau_syn_steps, DT / (1 - beta)
    fields = dict(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / DT),
                  v_leak=np.zeros(n), v_threshold=np.full(n, threshold), w_in=np.full(n, tau_syn / DT))  # fmt: skip
    fields.update({k: np.full(n, v) for k, v in over.items()})
    return nir.CubaLIF(**fields)


def braille_chain(seed: int = 0, **over) -> nir.NIRGraph:
    rng = np.random.default_rng(seed)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([12])}),
        "fc1": nir.Affine(
            weight=rng.normal(0, 0.6, (40, 12)).astype(np.float32), bias=np.zeros(40, np.float32)
        ),
        "lif1": cuba(40, TAU_SYN_STEPS[0], BETAS[0], **over),
        "fc2": nir.Linear(weight=rng.normal(0, 0.5, (7, 40)).astype(np.float32)),
        "lif2": cuba(7, TAU_SYN_STEPS[1], BETAS[1], **over),
        "output": nir.Output(output_type={"output": np.array([7])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])))


def cubalif_layers(x: np.ndarray, layers: list, reset: str, steps: int = STEPS):
    """NIR's CubaLIF, forward Euler over dt, in float64, layer after layer: ``I <- I + dt/tau_syn (-I + w_in
    drive)``, ``v <- v + dt/tau_mem (v_leak - v + r I)``, the reset decided by the previous step's membrane
    (``> v_threshold``), a spike when ``v > v_threshold``. ``layers``: (real weights W, CubaLIF node, recurrent
    weights W_rec or None); a layer's drive is ``W s`` plus ``W_rec`` times its own spikes of the previous step
    (0 at the first). ``x``: (N, F) real input currents, the same at every step. Returns (output spike counts,
    spike totals per layer)."""
    s = np.broadcast_to(x, (steps, *x.shape))  # (T, N, F): the input current of every step
    totals = []
    for w, node, w_rec in layers:
        p = {
            f: float(np.asarray(getattr(node, f)).flat[0])
            for f in ("tau_syn", "tau_mem", "r", "w_in", "v_threshold")
        }
        th = p["v_threshold"]
        i = np.zeros((s.shape[1], w.shape[0]))
        v = np.zeros_like(i)
        out = np.zeros((steps, *i.shape))
        for t in range(steps):
            drive = s[t] @ w.T + (out[t - 1] @ w_rec.T if w_rec is not None and t else 0.0)
            i = i + DT / p["tau_syn"] * (-i + p["w_in"] * drive)
            r = v > th
            if reset == "zero":
                v = np.where(r, 0.0, v)
            v = v + DT / p["tau_mem"] * (-v + p["r"] * i) - (r * th if reset == "subtract" else 0.0)
            out[t] = v > th
        totals.append(int(out.sum()))
        s = out
    return s.sum(axis=0), totals


def quantized(weight, bits: int) -> np.ndarray:
    """``weight`` quantized to ``bits`` as import does, in real units."""
    return np.multiply(*quantize_per_tensor(np.asarray(weight, np.float64), bits))


def cubalif_reference(graph: nir.NIRGraph, x: np.ndarray, bits: int, reset: str, steps: int = STEPS):
    """:func:`cubalif_layers` on ``braille_chain``'s two layers (no recurrence). ``x``: (N, 12)."""
    layers = [
        (quantized(graph.nodes[fc].weight, bits), graph.nodes[lif], None)
        for fc, lif in (("fc1", "lif1"), ("fc2", "lif2"))
    ]
    return cubalif_layers(x, layers, reset, steps)


def probe(n: int = 16, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 1, 1, 12)).astype(np.uint8)


@pytest.mark.parametrize(("bits", "reset"), [(8, "zero"), (4, "subtract"), (8, "subtract"), (4, "zero")])
def test_cubalif_with_a_synapse_imports_and_matches_nirs_equations(bits: int, reset: str) -> None:
    graph = braille_chain()
    result = import_nir(graph, bits=bits, num_steps=STEPS, dt=DT, encoding="static", input_scale=1 / 255,
                        reset=reset, convention="nir")  # fmt: skip
    ir = result.graph
    assert [op.kind for op in ir.ops] == ["linear", "requantize", "synaptic", "lif"] * 2
    assert [op.name for op in ir.ops if op.kind == "synaptic"] == ["lif1_synaptic", "lif2_synaptic"]
    for op, steps in zip((o for o in ir.ops if isinstance(o, Synaptic)), TAU_SYN_STEPS, strict=True):
        assert (op.decay_multiplier, op.decay_shift) == quantize_decay(1 - 1 / steps, 16)
    assert [op.reset for op in ir.lif_layers()] == [reset, reset]
    assert not result.warnings, result.warnings

    raw = probe()
    sim = simulate(ir, raw, STEPS, record=True)
    ref_counts, ref_totals = cubalif_reference(graph, raw.reshape(len(raw), 12) / 255.0, bits, reset)
    int_totals = [int(sim.spike_counts[name].sum()) for name in ("lif1", "lif2")]
    assert all(t > 0 for t in ref_totals), ref_totals
    for f, i in zip(ref_totals, int_totals, strict=True):
        assert abs(i - f) <= 0.02 * f, (ref_totals, int_totals)
    agree = np.mean(np.argmax(ref_counts, axis=1) == sim.predictions)
    assert agree >= 15 / 16, agree
    assert result.check["prediction_agreement"] >= 15 / 16  # the import's own float chain says the same

    exact = simulate_reference(ir, raw, STEPS, record=True)
    np.testing.assert_array_equal(sim.output_spikes, exact.output_spikes)
    for op in ir.ops:
        if isinstance(op, Synaptic):
            np.testing.assert_array_equal(sim.layer_currents[op.name], exact.op_outputs[op.name])


def test_the_synapse_is_what_makes_the_difference() -> None:
    """The same layer with tau_syn = dt (no synapse, as today) and with tau_syn = 4 dt: only the latter gets
    a synaptic op, and its currents build up over the steps."""
    plain = braille_chain()
    for name in ("lif1", "lif2"):
        node = plain.nodes[name]
        plain.nodes[name] = nir.CubaLIF(tau_syn=np.full(node.tau_syn.shape, DT), tau_mem=node.tau_mem, r=node.r,
                                        v_leak=node.v_leak, v_threshold=node.v_threshold,
                                        w_in=np.ones(node.w_in.shape))  # fmt: skip
    kinds = [op.kind for op in import_nir(plain, bits=8, num_steps=STEPS, dt=DT).graph.ops]
    assert kinds == ["linear", "requantize", "lif"] * 2
    ir = import_nir(braille_chain(), bits=8, num_steps=STEPS, dt=DT).graph
    currents = simulate(ir, probe(4), STEPS, record=True).layer_currents["lif1_synaptic"]
    assert np.abs(currents[:, -1]).mean() > 2 * np.abs(currents[:, 0]).mean()  # alpha 0.75: up to 4x


def test_rockpools_synapse_is_its_own_step() -> None:
    """Rockpool's LIFTorch: isyn <- exp(-dt/tau_syn) (isyn + w_in x), then vmem <- exp(-dt/tau_mem) vmem + isyn:
    a synaptic op with alpha exp(-dt/tau_syn) and the input scaled by alpha."""
    dt, tau_syn, tau_mem = 1e-3, 3e-3, 2e-2
    graph = braille_chain()
    for name, n in (("lif1", 40), ("lif2", 7)):
        graph.nodes[name] = nir.CubaLIF(
            tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem * math.exp(-dt / tau_mem) / dt),
            v_leak=np.zeros(n), v_threshold=np.full(n, 1.0), w_in=np.ones(n),
        )  # fmt: skip
    result = import_nir(graph, bits=8, num_steps=STEPS, dt=dt, convention="rockpool")
    syn = [op for op in result.graph.ops if isinstance(op, Synaptic)]
    assert len(syn) == 2
    assert all(op.decay == pytest.approx(math.exp(-dt / tau_syn), abs=2e-5) for op in syn)
    assert all(
        op.decay == pytest.approx(math.exp(-dt / tau_mem), abs=2e-5) for op in result.graph.lif_layers()
    )
    assert result.check["prediction_agreement"] >= 0.75


@pytest.mark.parametrize(
    ("convention", "over", "fragment"),
    [
        ("nir", {"tau_syn": DT / 2}, "tau_syn must be at least dt"),
        ("nir", {"v_leak": 0.1}, "v_leak 0.1 with a synapse"),
        ("norse", {}, "under the norse convention, whose synaptic step is not implemented"),
        ("sinabs", {}, "under the sinabs convention"),
    ],
    ids=["tau-syn-below-dt", "leak-with-synapse", "norse", "sinabs"],
)
def test_what_the_synaptic_op_cannot_hold_is_one_line_naming_the_node(convention, over, fragment) -> None:
    graph = braille_chain(**over)
    with pytest.raises(UnsupportedLayerError) as err:
        import_nir(graph, bits=8, num_steps=STEPS, dt=DT, convention=convention)
    message = str(err.value)
    assert "\n" not in message and "'lif1'" in message and "'lif2'" in message and fragment in message


def test_a_synaptic_network_written_by_snntorchs_own_export_matches_snntorch() -> None:
    """snnTorch 1.0.0's ``export_to_nir`` writes a Synaptic as CubaLIF (tau_syn = dt/(1 - alpha), w_in =
    tau_syn/dt, r = tau_mem/dt; per-neuron tensors, since nirtorch's type inference fails on scalars). The import
    detects snnTorch's convention, recovers alpha and beta, and at 8 bits spikes like snnTorch's own run of the
    same network (its default subtract reset; snnTorch's NIR import itself would build a zero reset)."""
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    pytest.importorskip("nirtorch")
    from snntorch.export_nir import export_to_nir

    from qsnn_deploy.export.inference import float_outputs

    def syn(n: int, alpha: float, beta: float, **kw):
        full = {"alpha": alpha, "beta": beta, "threshold": 1.0}
        return snn.Synaptic(**{k: torch.full((n,), v) for k, v in full.items()}, init_hidden=True, **kw)

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 40), syn(40, 0.75, 0.9), torch.nn.Linear(40, 7),
                              syn(7, 0.5, 0.8, output=True)).eval()  # fmt: skip
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    graph = export_to_nir(net, torch.zeros(1, 12), ignore_dims=[0])
    result = import_nir(
        graph, bits=8, num_steps=STEPS, encoding="static", input_scale=1 / 255, reset="subtract"
    )
    assert result.settings.convention == "snntorch"
    ir = result.graph
    decays = [round(op.decay, 4) for op in ir.ops if op.kind in ("synaptic", "lif")]
    assert decays == [0.75, 0.9, 0.5, 0.8]

    raw = probe(32, seed=5)
    counts, totals = float_outputs(net, raw, STEPS, 1 / 255)
    sim = simulate(ir, raw, STEPS)
    for name, ir_name in (("1", "layer1"), ("3", "layer3")):
        f, i = totals[ir_name], int(sim.spike_counts[ir_name].sum())
        assert f > 0 and abs(i - f) <= 0.02 * f, (name, f, i)
    assert np.mean(np.argmax(counts, axis=1) == sim.predictions) >= 30 / 32


def test_a_synaptic_decay_that_rounds_to_one_or_zero_is_named_with_the_dt() -> None:
    slow = braille_chain()
    slow.nodes["lif1"] = cuba(40, 1e7, BETAS[0])  # alpha = 1 - 1e-7: rounds to exactly 1 at 16 bits
    slow.nodes["lif2"] = cuba(7, 1.000005, BETAS[1])  # alpha = 5e-6: above "no synapse" (1e-6), rounds to 0
    warnings = import_nir(slow, bits=8, num_steps=STEPS, dt=DT, convention="nir").warnings
    assert any(
        w.startswith("lif1: synaptic decay 1 per step rounds to exactly 1 at dt 0.0001") for w in warnings
    )
    assert any(w.startswith("lif2: synaptic decay 5e-06 per step rounds to 0") for w in warnings), warnings
    assert not [
        w for w in import_nir(braille_chain(), bits=8, num_steps=STEPS, dt=DT).warnings if "rounds" in w
    ]


def test_our_torch_writer_takes_a_synaptic_network_and_the_import_matches_snntorch() -> None:
    """interop.torch_nir writes snnTorch's Synaptic as CubaLIF (as snnTorch does, scalars allowed); imported at
    8 bits under the recorded convention it spikes like snnTorch's own run. A zero-reset Synaptic is refused."""
    torch = pytest.importorskip("torch")
    snn = pytest.importorskip("snntorch")
    from qsnn_deploy.export.inference import float_outputs
    from qsnn_deploy.interop.torch_nir import torch_to_nir

    torch.manual_seed(1)
    net = torch.nn.Sequential(torch.nn.Linear(12, 40), snn.Synaptic(alpha=0.75, beta=0.9, init_hidden=True),
                              torch.nn.Linear(40, 7),
                              snn.Synaptic(alpha=0.5, beta=0.8, init_hidden=True, output=True)).eval()  # fmt: skip
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(3.0)
    graph = torch_to_nir(net, (12,), num_steps=STEPS)
    assert isinstance(graph.nodes["1"], nir.CubaLIF)
    ir = import_nir(graph, bits=8).graph
    assert [op.kind for op in ir.ops] == ["linear", "requantize", "synaptic", "lif"] * 2
    assert [op.reset for op in ir.lif_layers()] == ["subtract", "subtract"]
    raw = probe(32, seed=6)
    counts, totals = float_outputs(net, raw, STEPS, 1 / 255)
    sim = simulate(ir, raw, STEPS)
    for name in ("layer1", "layer3"):
        f, i = totals[name], int(sim.spike_counts[name].sum())
        assert f > 0 and abs(i - f) <= 0.02 * f, (name, f, i)
    assert np.mean(np.argmax(counts, axis=1) == sim.predictions) >= 30 / 32

    net[1].reset_mechanism = "zero"
    with pytest.raises(UnsupportedLayerError, match="'1' \\(Synaptic\\): reset_mechanism 'zero'"):
        torch_to_nir(net, (12,), num_steps=STEPS)


def test_a_rockpool_liftorch_network_spikes_like_rockpools_own_run() -> None:
    """Rockpool 3.1's LIFTorch with a synapse (tau_syn 3 steps), written by its own ``to_nir`` and imported at 8
    bits under the detected rockpool convention (alpha = exp(-dt/tau_syn), input gain alpha): against Rockpool's
    own simulation of the same network (one spike per step at most), the same predictions and per-layer spike
    totals within 1 %. What differs is the documented rest: Rockpool spikes at v >= threshold and subtracts in the
    same step, the IR at v > threshold a step later."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("nirtorch")
    pytest.importorskip("rockpool")
    from rockpool.nn.combinators import Sequential
    from rockpool.nn.modules import LIFTorch, LinearTorch, to_nir
    from rockpool.parameters import Constant

    dt = 1e-3

    def lif(n: int):
        return LIFTorch(n, tau_syn=Constant(3e-3), tau_mem=Constant(2e-2), threshold=Constant(1.0),
                        bias=Constant(0.0), dt=dt, max_spikes_per_dt=1)  # fmt: skip

    torch.manual_seed(0)
    net = Sequential(LinearTorch((12, 40)), lif(40), LinearTorch((40, 7)), lif(7))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
    raw = probe(32, seed=5)
    x = torch.tensor(raw.reshape(32, 1, 12) / 255.0, dtype=torch.float32).repeat(1, STEPS, 1)
    out, _, rec = net(x, record=True)
    result = import_nir(to_nir(net), bits=8, num_steps=STEPS, encoding="static", input_scale=1 / 255)
    assert result.settings.convention == "rockpool"
    syn = [op for op in result.graph.ops if isinstance(op, Synaptic)]
    assert [round(op.decay, 4) for op in syn] == [round(math.exp(-1 / 3), 4)] * 2
    sim = simulate(result.graph, raw, STEPS)
    for node, ir_name in (("1_LIFTorch_output", "layer1_liftorch"), ("3_LIFTorch_output", "layer3_liftorch")):
        theirs, ours = float(rec[node].detach().sum()), int(sim.spike_counts[ir_name].sum())
        assert theirs > 0 and abs(ours - theirs) <= 0.01 * theirs, (node, theirs, ours)
    assert np.mean(np.argmax(out.detach().numpy().sum(axis=1), axis=1) == sim.predictions) >= 31 / 32
