"""Each library's reading of NIR's neurons, detected or chosen, and the time step: never assumed silently.

Graphs are built with nir's API the way each library's ``to_nir`` writes them (docs/targets/nir.md, "Import:
conventions"): snnTorch ``r = tau/dt`` at dt 1e-4; Norse ``tau = 1/tau_mem_inv`` s and ``r = 1``; Sinabs
``r = 1`` and tau in steps; Spyx ``r = beta``, ``tau = dt/(1 - beta)``; Rockpool ``r = tau exp(-dt/tau)/dt``.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError  # noqa: E402
from qsnn_deploy.export.float_graph import Affine, Leaky  # noqa: E402
from qsnn_deploy.interop.nir_import import import_nir, nir_to_float_graph  # noqa: E402
from qsnn_deploy.interop.nir_settings import resolve  # noqa: E402


def _net(neuron, names=("0", "1", "2", "3"), seed: int = 0, metadata=None):
    """Affine(16 -> 12) -> neuron(12) -> Linear(12 -> 4) -> neuron(4); ``neuron(n)`` builds one node."""
    rng = np.random.default_rng(seed)
    layers = [
        nir.Affine(weight=rng.normal(0, 0.4, (12, 16)).astype(np.float32), bias=np.zeros(12, np.float32)),
        neuron(12),
        nir.Linear(weight=rng.normal(0, 0.6, (4, 12)).astype(np.float32)),
        neuron(4),
    ]
    nodes = {"input": nir.Input(input_type={"input": np.array([16])})}
    nodes.update(zip(names, layers))
    nodes["output"] = nir.Output(output_type={"output": np.array([4])})
    order = list(nodes)
    return nir.NIRGraph(
        nodes=nodes, edges=list(zip(order[:-1], order[1:])), type_check=False, metadata=metadata or {}
    )


def _steps(graph, **kw) -> list[tuple[float, float]]:
    """(gain, beta) of each neuron layer in the float chain the importer builds."""
    s = resolve(graph, kw.pop("convention", None), kw.pop("dt", None))
    fg = nir_to_float_graph(graph, bits=8, num_steps=4, encoding="static", input_scale=1 / 255, dt=s.dt,
                            convention=s.convention, **kw)  # fmt: skip
    layers = list(fg.layers)
    return [
        (float(layers[i - 1].scale[0]), layer.beta)
        for i, layer in enumerate(layers)
        if isinstance(layer, Leaky) and isinstance(layers[i - 1], Affine)
    ]


def snntorch_lif(n, beta=0.9, dt=1e-4):
    tau = np.full(n, dt / (1 - beta))
    return nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(n), v_threshold=np.ones(n))


def norse_lif(n, tau_mem_inv=100.0):
    return nir.LIF(tau=np.full(n, 1 / tau_mem_inv), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def sinabs_if(n):
    return nir.IF(r=np.ones(n), v_threshold=np.ones(n))


def sinabs_lif(n, tau=10.0):
    return nir.LIF(tau=np.full(n, tau), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.ones(n))


def spyx_lif(n, beta=0.8, dt=1e-3):
    return nir.LIF(
        tau=np.full(n, dt / (1 - beta)), r=np.full(n, beta), v_leak=np.zeros(n), v_threshold=np.ones(n)
    )


def rockpool_lif(n, tau=0.02, dt=1e-3):
    r = tau * math.exp(-dt / tau) / dt
    return nir.LIF(tau=np.full(n, tau, np.float32), r=np.full(n, r, np.float32), v_leak=np.zeros(n),
                   v_threshold=np.ones(n))  # fmt: skip


ROCKPOOL = ("0_LinearTorch", "1_LIFNeuronTorch", "2_LinearTorch", "3_LIFNeuronTorch")


@pytest.mark.parametrize(
    "neuron, names, convention, dt, dt_from, gain, beta, reset",
    [
        (snntorch_lif, ("fc1", "lif1", "fc2", "lif2"), "snntorch", 1e-4, "documented", 1.0, 0.9, "zero"),
        (norse_lif, ("0", "1", "2", "3"), "norse", 1e-3, "documented", 0.1, 0.9, "zero"),
        (sinabs_if, ("0", "1", "2", "3"), "sinabs", 1.0, "documented", 1.0, 1.0, "subtract"),
        (sinabs_lif, ("0", "1", "2", "3"), "sinabs", 1.0, "documented", 1 - math.exp(-0.1), math.exp(-0.1),
         "subtract"),
        (spyx_lif, ("linear", "LIF", "linear_1", "LIF_1"), "spyx", 1e-3, "derived", 1.0, 0.8, "subtract"),
        (rockpool_lif, ROCKPOOL, "rockpool", 1e-3, "derived", 1.0, math.exp(-0.05), "subtract"),
    ],
)  # fmt: skip
def test_each_library_is_detected_and_read_its_way(neuron, names, convention, dt, dt_from, gain, beta, reset):
    graph = _net(neuron, names)
    s = resolve(graph, None, None)
    assert (s.convention, s.convention_from.startswith("detected")) == (convention, True)
    assert s.dt == pytest.approx(dt, rel=1e-6) and dt_from in s.dt_from
    for g, b in _steps(graph):
        assert g == pytest.approx(gain, rel=1e-5) and b == pytest.approx(beta, rel=1e-5)
    result = import_nir(graph, bits=8, num_steps=8)
    assert {op.reset for op in result.graph.lif_layers()} == {reset}
    assert result.check["prediction_agreement"] >= 0.75


def test_spyx_under_nirs_equations_would_be_silent_and_spyx_is_not() -> None:
    """The measured failure: Spyx's r = beta read as NIR's r gives an input gain beta (1 - beta)."""
    graph = _net(spyx_lif, ("linear", "LIF", "linear_1", "LIF_1"))
    (gain_nir, _), _ = _steps(graph, convention="nir", dt=1e-3)
    (gain_spyx, _), _ = _steps(graph)
    assert gain_nir == pytest.approx(0.8 * 0.2) and gain_spyx == 1.0


def test_spyx_weights_written_in_out_are_transposed_by_shape() -> None:
    graph = _net(spyx_lif, ("linear", "LIF", "linear_1", "LIF_1"))
    as_written = _steps(graph)
    graph.nodes["linear"] = nir.Affine(
        weight=graph.nodes["linear"].weight.T.copy(), bias=graph.nodes["linear"].bias
    )
    assert _steps(graph) == as_written
    with pytest.raises(
        UnsupportedLayerError, match="'linear': weight of shape \\(16, 12\\) takes 12 features"
    ):
        _steps(graph, convention="nir", dt=1e-3)


def test_dt_order_and_refusal() -> None:
    plain = _net(
        lambda n: nir.LIF(tau=np.full(n, 0.5), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.ones(n))
    )
    with pytest.raises(QsnnError, match="records no dt .* pass --dt SECONDS, or --convention snntorch"):
        import_nir(plain, bits=4, num_steps=4)
    assert resolve(plain, "nir", 0.05).dt_from == "--dt"
    recorded = _net(snntorch_lif, metadata={"dt": 2e-4})
    assert (resolve(recorded, None, None).dt, resolve(recorded, None, None).dt_from) == (2e-4, "metadata")
    result = import_nir(recorded, bits=4, num_steps=4, dt=1e-4)
    assert any("--dt 0.0001 replaces the dt 0.0002" in w for w in result.warnings)
    with pytest.raises(QsnnError, match="--convention must be one of"):
        resolve(plain, "brian", None)


def test_decays_that_round_to_one_or_zero_are_named_with_the_dt() -> None:
    def lif(tau):
        return lambda n: nir.LIF(
            tau=np.full(n, tau), r=np.full(n, tau / 1e-4), v_leak=np.zeros(n), v_threshold=np.ones(n)
        )

    graph = _net(lif(1e3), ("fc1", "slow", "fc2", "out"))  # beta = 1 - 1e-7: rounds to exactly 1
    graph.nodes["out"] = lif(1.00000001e-4)(4)  # beta = 1e-8: rounds to 0
    warnings = import_nir(graph, bits=8, num_steps=4, dt=1e-4, convention="nir").warnings
    assert any(
        w.startswith("slow: decay 1 per step rounds to exactly 1 at dt 0.0001: no leak") for w in warnings
    )
    assert any(w.startswith("out: decay 1e-08 per step rounds to 0 at dt 0.0001") for w in warnings)
    assert not [w for w in import_nir(_net(snntorch_lif), bits=8, num_steps=4).warnings if "rounds" in w]


def test_what_a_convention_cannot_take_is_one_line_naming_the_node() -> None:
    def spyx_cuba(n, alpha=0.5, beta=0.8, dt=1e-3):
        return nir.CubaLIF(tau_syn=np.full(n, dt / (1 - alpha)), tau_mem=np.full(n, dt / (1 - beta)),
                           r=np.full(n, beta), v_leak=np.zeros(n), v_threshold=np.ones(n), w_in=np.ones(n))  # fmt: skip

    with pytest.raises(UnsupportedLayerError, match="'CuBaLIF_1': CubaLIF with a synapse .* --dt") as err:
        import_nir(_net(spyx_cuba, ("linear", "CuBaLIF", "linear_1", "CuBaLIF_1")), bits=4, num_steps=4)
    assert "\n" not in str(err.value) and "'CuBaLIF'" in str(err.value)


@pytest.mark.parametrize(
    ("neuron", "convention", "message"),
    [
        (lambda n: sinabs_lif(n, tau=-5.0), "sinabs", "tau -5 is not a positive time constant"),
        (lambda n: rockpool_lif(n, tau=-1.0), "rockpool", "is not a positive time constant"),
        (lambda n: nir.LIF(tau=np.full(n, 10.0), r=np.full(n, 1.5), v_leak=np.zeros(n),
                           v_threshold=np.ones(n)), "spyx", "a decay of 1.5 per step, outside [0, 1]"),
    ],
    ids=["sinabs-negative-tau", "rockpool-negative-tau", "spyx-r-above-1"],
)  # fmt: skip
def test_parameters_no_step_can_hold_are_one_line_naming_the_node(neuron, convention, message) -> None:
    """They used to become a decay above 1 that quantization clamped to 1: a layer without leak, silently."""
    with pytest.raises(UnsupportedLayerError, match=re.escape(message)) as err:
        import_nir(_net(neuron), bits=8, num_steps=4, dt=1.0, convention=convention)
    assert "'1'" in str(err.value)
