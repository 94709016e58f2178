"""IR graph -> NIR graph (``nir`` package): what other neuromorphic tools can load.

The NIR graph computes in the IR's integer units: its input is the raw uint8 frame value, each LIF's membrane
is in units of one membrane LSB. Per layer:

- ``conv2d`` [+ ``sumpool2d``] + ``requantize`` -> ``Conv2d`` [+ ``SumPool2d``] whose weight is
  ``W_int * m / 2^s`` per output channel and whose bias is ``b / 2^s / k^2`` (added before the k x k sum pool);
- ``linear`` + ``requantize`` -> ``Flatten`` (when its input is a map) + ``Affine(W_int * m / 2^s, b / 2^s)``;
- a ``sumpool2d`` on spikes before a conv or linear (``Layer.in_pool``, the Sinabs/Speck layout) -> a
  ``SumPool2d`` node before the synapse, which keeps the graph's own (unfolded) weights: the layer plan's
  folding is for targets only;
- ``lif`` -> ``LIF(tau = dt / (1 - beta), r = tau / dt, v_leak = 0, v_threshold = theta, v_reset = 0)``, or
  ``IF(r = 1 / dt)`` when beta = 1 (conventions.py);
- ``synaptic`` + ``lif`` (``Layer.current``) -> ``CubaLIF(tau_syn = dt / (1 - alpha), w_in = tau_syn / dt,
  tau_mem = dt / (1 - beta), r = tau_mem / dt, v_leak = 0, v_threshold = theta, v_reset = 0)``: NIR's Euler step
  of it is ``I <- alpha I + x``, ``v <- beta v + I``, the synaptic op and the LIF (snnTorch's ``Synaptic`` as its
  ``export_to_nir`` writes it); without membrane leak ``tau_mem = r = inf``. A synaptic decay of 1 has no
  CubaLIF (``w_in`` would be infinite) and is refused.
- ``recurrent`` (``Layer.recurrent``) -> a ``Linear`` node named after the op, ``W_rec_int * m / 2^s`` per
  receiving neuron, with the edges ``lif -> <recurrent> -> lif``: the neuron's spikes back into its own input, in
  the same membrane units as the feed-forward Affine (the Braille layout; NIR's gain on a neuron's input is 1
  here, so the recurrent current adds as the IR's op adds it).

The integer form rides along in node metadata, so a qsnn-aware reader recovers it exactly: ``weight_int``
(int8) and ``weight_scale`` (per output channel; ``weight == weight_int * weight_scale``), the requantize's
``multiplier``, ``bias`` and ``shift``, the LIF's ``threshold``, ``decay_multiplier``, ``decay_shift``,
``reset`` and ``state_bits``, a synaptic current's ``synaptic_decay_multiplier``, ``synaptic_decay_shift`` and
``synaptic_state_bits``, a recurrent node's ``weight_int``, ``weight_bits``, ``multiplier``, ``shift`` and
``out_bits``, and the declared widths (``acc_bits``, ``out_bits``, a pool's ``acc_bits``), so that
``interop/nir_exact.py`` rebuilds the very IR graph from a file we wrote. What NIR itself cannot express (rounding, saturation, the subtract and delayed
reset) is listed in docs/targets/nir.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.interop.conventions import DEFAULT_DT, PRODUCER, tau_of_beta
from qsnn_deploy.ir.graph import Graph, written_version
from qsnn_deploy.ir.plan import Layer, plan_layers


def _nir():
    try:
        import nir
    except ImportError:
        raise QsnnError("NIR support needs the nir package: pip install nir") from None
    return nir


def _channels(values: np.ndarray, ndim: int) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape((-1,) + (1,) * (ndim - 1))


def _sum_pool(nir, pool):
    k = pool.kernel
    return nir.SumPool2d(kernel_size=np.array([k, k]), stride=np.array([k, k]), padding=np.array([0, 0]),
                         metadata={"ir_ops": pool.name, "acc_bits": pool.acc_type.bits})  # fmt: skip


def _synapse_nodes(nir, layer: Layer) -> list[tuple[str, object]]:
    rq, op = layer.rq, layer.synapse  # the IR's ops, not the folded one
    nodes: list[tuple[str, object]] = []
    if layer.in_pool is not None:
        nodes.append((layer.in_pool.name, _sum_pool(nir, layer.in_pool)))
    scale = rq.multiplier.astype(np.float64) / float(1 << rq.shift)  # per output channel
    bias = rq.bias.astype(np.float64) / float(1 << rq.shift)
    integer = {"weight_int": op.weight.astype(np.int8), "weight_scale": scale, "weight_bits": op.weight_type.bits,
               "multiplier": rq.multiplier.astype(np.int64), "bias": rq.bias.astype(np.int64),
               "shift": rq.shift, "ir_ops": f"{op.name},{rq.name}", "acc_bits": op.acc_type.bits,
               "out_bits": rq.out_type.bits}  # fmt: skip
    weight = (op.weight.astype(np.float64) * _channels(scale, op.weight.ndim)).astype(np.float32)
    return nodes + SYNAPSE_NODES[op.kind](nir, layer, weight, bias, integer)


def _conv_nodes(
    nir, layer: Layer, weight: np.ndarray, bias: np.ndarray, integer: dict
) -> list[tuple[str, object]]:
    """A Conv2d node (the requantize's bias spread over a sum pool's window), then the pool after it."""
    op, in_shape = layer.synapse, layer.synapse_in_shape
    k2 = layer.pool_kernel**2
    nodes: list[tuple[str, object]] = [(op.name, nir.Conv2d(
        input_shape=tuple(in_shape[1:]), weight=weight, stride=op.stride, padding=op.padding,
        dilation=1, groups=1, bias=(bias / k2).astype(np.float32), metadata=integer,
    ))]  # fmt: skip
    if layer.pool is not None:
        # The nir target's rule op_supported refuses any other pool first; never write one as a sum.
        if layer.pool.kind != "sumpool2d":
            raise QsnnError(f"{layer.pool.kind} {layer.pool.name!r}: NIR 1.0.8 has no max-pool node")
        nodes.append((layer.pool.name, _sum_pool(nir, layer.pool)))
    return nodes


def _affine_nodes(
    nir, layer: Layer, weight: np.ndarray, bias: np.ndarray, integer: dict
) -> list[tuple[str, object]]:
    """A Flatten node where the input is a map, then an Affine node."""
    op, in_shape = layer.synapse, layer.synapse_in_shape
    nodes: list[tuple[str, object]] = []
    if len(in_shape) > 1:
        flat = nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0, end_dim=-1)
        nodes.append((f"{op.name}_flatten", flat))
    nodes.append((op.name, nir.Affine(weight=weight, bias=bias.astype(np.float32), metadata=integer)))
    return nodes


# What writes each synapse kind's nodes; the nir target's registration table (targets/nir/ops.py) lists these
# kinds, the sum pool and the requantize (both written into the synapse's nodes) and the LIF (_neuron_node).
SYNAPSE_NODES = {"conv2d": _conv_nodes, "linear": _affine_nodes}


def _neuron_node(nir, layer: Layer, dt: float):
    lif, shape = layer.lif, layer.out_shape
    integer = {"threshold": lif.threshold, "decay_multiplier": lif.decay_multiplier, "decay_shift": lif.decay_shift,
               "reset": lif.reset, "state_bits": lif.state_type.bits, "ir_ops": lif.name}  # fmt: skip

    def full(value: float) -> np.ndarray:
        return np.full(shape, value, dtype=np.float64)

    if layer.current is not None:
        return _cuba_node(nir, layer, dt, integer, full)
    if lif.decay >= 1.0:
        return nir.IF(r=full(1.0 / dt), v_threshold=full(lif.threshold), v_reset=full(0.0), metadata=integer)
    tau = tau_of_beta(lif.decay, dt)
    return nir.LIF(tau=full(tau), r=full(tau / dt), v_leak=full(0.0), v_threshold=full(lif.threshold),
                   v_reset=full(0.0), metadata=integer)  # fmt: skip


def _cuba_node(nir, layer: Layer, dt: float, integer: dict, full):
    """A LIF with a synaptic current as NIR's CubaLIF (gain 1 on both equations under NIR's Euler step)."""
    syn, lif = layer.current, layer.lif
    if syn.decay >= 1.0:
        raise QsnnError(
            f"synaptic {syn.name!r}: a decay of 1 (a current that never decays) has no NIR CubaLIF form "
            "(tau_syn and w_in would be infinite)"
        )
    integer = {**integer, "synaptic_decay_multiplier": syn.decay_multiplier, "synaptic_decay_shift": syn.decay_shift,
               "synaptic_state_bits": syn.state_type.bits, "ir_ops": f"{syn.name},{lif.name}"}  # fmt: skip
    tau_syn = dt / (1.0 - syn.decay)
    tau_mem = tau_of_beta(lif.decay, dt) if lif.decay < 1.0 else np.inf
    return nir.CubaLIF(tau_syn=full(tau_syn), tau_mem=full(tau_mem), r=full(tau_mem / dt), v_leak=full(0.0),
                       v_threshold=full(lif.threshold), v_reset=full(0.0), w_in=full(tau_syn / dt),
                       metadata=integer)  # fmt: skip


def _recurrent_node(nir, layer: Layer):
    """The recurrent op as a Linear node from the layer's spikes to its own input (membrane units)."""
    rec = layer.recurrent
    scale = rec.multiplier.astype(np.float64) / float(1 << rec.shift)
    integer = {"weight_int": rec.weight.astype(np.int8), "weight_bits": rec.weight_type.bits,
               "multiplier": rec.multiplier.astype(np.int64), "shift": rec.shift, "out_bits": rec.out_type.bits,
               "ir_ops": rec.name, "feeds": layer.lif.name}  # fmt: skip
    weight = (rec.weight.astype(np.float64) * scale.reshape(-1, 1)).astype(np.float32)
    return nir.Linear(weight=weight, metadata=integer)


def graph_to_nir(graph: Graph, dt: float = DEFAULT_DT):
    """The NIR graph of ``graph`` (a chain: input, the layers' nodes, output); see the module docstring."""
    nir = _nir()
    layers = plan_layers(graph.validate())
    nodes: list[tuple[str, object]] = [
        ("input", nir.Input(input_type={"input": np.array(graph.input.shape)}))
    ]
    loops: list[tuple[str, object]] = []  # recurrent nodes: off the chain, an edge to and from their neuron
    for layer in layers:
        nodes += _synapse_nodes(nir, layer)
        nodes.append((layer.lif.name, _neuron_node(nir, layer, dt)))
        if layer.recurrent is not None:
            loops.append((layer.recurrent.name, _recurrent_node(nir, layer)))
    nodes.append(("output", nir.Output(output_type={"output": np.array(layers[-1].out_shape)})))
    chain_names = [name for name, _ in nodes]
    names = chain_names + [name for name, _ in loops]
    if len(set(names)) != len(names):
        raise QsnnError(
            f"op names collide with NIR node names: {sorted(n for n in names if names.count(n) > 1)}"
        )
    metadata = {"producer": PRODUCER, "units": "integer", "dt": float(dt), "num_steps": graph.num_steps,
                "encoding": graph.input.encoding, "input_scale": 1.0, "ir_input_scale": float(graph.input.scale),
                "ir_version": written_version(graph.ops), "ir_input_bits": graph.input.dtype.bits,
                "ir_input_signed": int(graph.input.dtype.signed)}  # fmt: skip
    edges = list(zip(chain_names[:-1], chain_names[1:]))
    for name, node in loops:
        edges += [(node.metadata["feeds"], name), (name, node.metadata["feeds"])]
    return nir.NIRGraph(nodes=dict(nodes + loops), edges=edges, metadata=metadata)


def write_nir(graph: Graph, path: Path | str, dt: float = DEFAULT_DT) -> Path:
    """Write ``graph`` as a NIR file (HDF5) at ``path``, atomically."""
    import io

    from qsnn_deploy.atomic import write_bytes_atomic

    nir = _nir()
    buffer = io.BytesIO()
    nir.write(buffer, graph_to_nir(graph, dt))
    return write_bytes_atomic(Path(path), buffer.getvalue())


__all__ = ["graph_to_nir", "write_nir"]
