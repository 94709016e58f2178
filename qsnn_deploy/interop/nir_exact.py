"""A NIR graph qsnn-deploy wrote -> the very IR graph it was written from, every integer as it was.

``interop/nir_export.py`` writes the float network NIR tools run and, in each node's metadata, the IR's
integers: a synapse node's ``weight_int``, ``weight_bits``, ``acc_bits`` and its requantize's ``multiplier``,
``bias``, ``shift`` and ``out_bits``; a pool's ``acc_bits``; a neuron's ``threshold``, ``decay_multiplier``,
``decay_shift``, ``reset``, ``state_bits`` and, for a CubaLIF, the synaptic op's ``synaptic_decay_multiplier``,
``synaptic_decay_shift`` and ``synaptic_state_bits``; a recurrent Linear node's ``weight_int``, ``weight_bits``,
``multiplier``, ``shift`` and ``out_bits`` (its edges to and from its neuron); ``ir_ops`` names the IR ops a node came from. The graph's
metadata holds the input (``ir_input_bits``, ``ir_input_signed``, ``encoding``, ``ir_input_scale``) and
``num_steps``. :func:`exact_graph` rebuilds the ops from those alone, so the round trip export -> import keeps
the graph (``import_nir`` re-quantizes from the float weights instead, as for any other writer's graph).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.interop.conventions import PRODUCER, text
from qsnn_deploy.interop.nir_chain import chain
from qsnn_deploy.interop.nir_recurrent import unroll
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, Conv2d, Linear, Op, Recurrent, Requantize, SumPool2d, Synaptic
from qsnn_deploy.ir.types import IntType

__all__ = ["exact_graph", "import_exact", "is_exact"]

GRAPH_KEYS = ("ir_input_bits", "ir_input_signed", "encoding", "ir_input_scale", "num_steps")


def is_exact(nir_graph) -> bool:
    """Whether the graph was written by qsnn-deploy with every integer a rebuild needs (in its metadata)."""
    meta = nir_graph.metadata or {}
    return text(meta.get("producer", "")) == PRODUCER and all(k in meta for k in GRAPH_KEYS)


def _int(meta: dict, key: str, node: str) -> int:
    if key not in meta:
        raise QsnnError(f"NIR node {node!r} lacks the integer {key!r} qsnn-deploy writes: not an exact file")
    return int(np.asarray(meta[key]).reshape(()))


def _names(meta: dict, node: str) -> list[str]:
    if "ir_ops" not in meta:
        raise QsnnError(f"NIR node {node!r} lacks 'ir_ops': not a node qsnn-deploy wrote")
    return text(meta["ir_ops"]).split(",")


def _synapse(name: str, node, meta: dict) -> tuple[Op, Requantize]:
    """The synapse op and its requantize, from a Conv2d or Affine node."""
    import nir

    op_name, rq_name = _names(meta, name)
    weight = np.asarray(meta["weight_int"]).astype(np.int8)
    wtype, acc = IntType(_int(meta, "weight_bits", name)), IntType(_int(meta, "acc_bits", name))
    if isinstance(node, nir.Conv2d):
        stride, padding = (int(np.asarray(v).reshape(-1)[0]) for v in (node.stride, node.padding))
        op: Op = Conv2d(op_name, weight, wtype, stride, padding, acc)
    else:
        op = Linear(op_name, weight, wtype, acc)
    rq = Requantize(rq_name, np.asarray(meta["multiplier"]).astype(np.int64),
                    np.asarray(meta["bias"]).astype(np.int64), _int(meta, "shift", name),
                    IntType(_int(meta, "out_bits", name)))  # fmt: skip
    return op, rq


def _neuron(name: str, meta: dict) -> list[Op]:
    """The synaptic op (where the node carries one) and the LIF."""
    names = _names(meta, name)
    state = IntType(_int(meta, "state_bits", name))
    lif = LIF(names[-1], _int(meta, "threshold", name), _int(meta, "decay_multiplier", name),
              _int(meta, "decay_shift", name), text(meta["reset"]), state)  # fmt: skip
    if "synaptic_decay_multiplier" not in meta:
        return [lif]
    current = Synaptic(names[0], _int(meta, "synaptic_decay_multiplier", name),
                       _int(meta, "synaptic_decay_shift", name), IntType(_int(meta, "synaptic_state_bits", name)))  # fmt: skip
    return [current, lif]


def _recurrent(name: str, meta: dict) -> Recurrent:
    return Recurrent(_names(meta, name)[0], np.asarray(meta["weight_int"]).astype(np.int8),
                     np.asarray(meta["multiplier"]).astype(np.int64), IntType(_int(meta, "weight_bits", name)),
                     _int(meta, "shift", name), IntType(_int(meta, "out_bits", name)))  # fmt: skip


def exact_graph(nir_graph) -> Graph:
    """The IR graph a qsnn-deploy NIR file holds (see the module docstring); a QsnnError where it is not one."""
    import nir

    if not is_exact(nir_graph):
        raise QsnnError(
            f"not a NIR graph written by {PRODUCER} with its integers (metadata {sorted(GRAPH_KEYS)}); "
            "import it with import_nir, which quantizes its float weights"
        )
    meta = nir_graph.metadata
    unrolled = unroll(nir_graph)
    nir_graph = unrolled.graph
    order = chain(nir_graph)
    shape = tuple(int(v) for v in np.asarray(nir_graph.nodes[order[0]].input_type["input"]).reshape(-1))
    dtype = IntType(int(meta["ir_input_bits"]), bool(int(np.asarray(meta["ir_input_signed"]).reshape(()))))
    spec = InputSpec(shape, dtype, text(meta["encoding"]), float(meta["ir_input_scale"]))  # type: ignore[arg-type]
    ops: list[Op] = []
    pending: Requantize | None = None  # a synapse's requantize runs after its pool, before the neuron
    for name in order[1:]:
        node = nir_graph.nodes[name]
        node_meta = node.metadata or {}
        if isinstance(node, (nir.Output, nir.Flatten)):
            continue
        if isinstance(node, (nir.Conv2d, nir.Affine)):
            op, pending = _synapse(name, node, node_meta)
            ops.append(op)
        elif isinstance(node, nir.SumPool2d):
            kernel = int(np.asarray(node.kernel_size).reshape(-1)[0])
            ops.append(
                SumPool2d(_names(node_meta, name)[0], kernel, IntType(_int(node_meta, "acc_bits", name)))
            )
        elif isinstance(node, (nir.LIF, nir.IF, nir.CubaLIF)):
            if pending is None:
                raise QsnnError(f"NIR node {name!r}: a neuron without a synapse before it")
            loop = unrolled.recurrent.get(name)
            rec = [_recurrent(loop, unrolled.nodes[loop].metadata or {})] if loop else []
            ops += [pending, *rec, *_neuron(name, node_meta)]
            pending = None
        else:
            raise QsnnError(f"NIR node {name!r} ({type(node).__name__}) is not one qsnn-deploy writes")
    return Graph(spec, tuple(ops), int(meta["num_steps"])).validate()


def import_exact(path: Path, dataset: str | None = None) -> Graph:
    """``qsnn-deploy import --exact``: the IR graph the NIR file at ``path`` holds (:func:`exact_graph`; a
    QsnnError for a file qsnn-deploy did not write), with an import's provenance: ``source`` ``nir:<name>``,
    ``nir_exact`` (the file's SHA-256, the producer), ``dataset`` (recorded: the set ``verify`` uses by
    default), the saturation sites of its ranges and, where every LIF layer shares it, ``state_bits``. Checked
    against every limit of a .qsnn file, as a loaded one is."""
    from qsnn_deploy.interop.nir_import import read_nir
    from qsnn_deploy.ir.io import check_graph
    from qsnn_deploy.ir.ranges import overflow_sites
    from qsnn_deploy.models.provenance import file_sha256

    graph = exact_graph(read_nir(path))
    metadata: dict = {
        "source": f"nir:{path.name}",
        "dataset": dataset,
        "saturation_sites": overflow_sites(graph),
        "nir_exact": {"sha256": file_sha256(path), "producer": PRODUCER},
    }
    widths = {op.state_type.bits for op in graph.lif_layers()}
    if len(widths) == 1:
        metadata["state_bits"] = widths.pop()
    return check_graph(Graph(graph.input, graph.ops, graph.num_steps, metadata))
