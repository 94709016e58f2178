"""Recurrent NIR graphs as a chain plus recurrent weights: the layout of the NIR paper's Braille network, a neuron
(LIF, IF or CubaLIF) whose spikes feed back into its own input through a ``Linear`` or ``Affine`` node.

Three spellings of the same layer are taken:

- snnTorch's ``export_to_nir`` of an ``RLeaky``/``RSynaptic``: a subgraph node ``lif1`` holding
  ``input -> lif -> output`` and ``lif -> w_rec -> lif``;
- the same after ``nir.read`` flattens it: nodes ``lif1.input``, ``lif1.lif``, ``lif1.w_rec``, ``lif1.output``
  (an Input or Output node with edges on both sides only passes values through);
- the plain form: ``fc1 -> lif1``, ``lif1 -> w_rec``, ``w_rec -> lif1``, ``lif1 -> fc2``.

:func:`unroll` rewrites each into the chain ``fc1 -> lif1 -> fc2`` and returns the recurrent node of each neuron.
Any other cycle (a recurrence through a convolution, through more than one node, or into a node that is not a
neuron) stays in the graph, where :func:`qsnn_deploy.interop.nir_chain.chain` refuses it in one line naming
the node, with the reason :func:`cycle_problem` gives.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qsnn_deploy.errors import UnsupportedLayerError


@dataclass
class Unrolled:
    """``graph``: the NIR graph with subgraphs inlined, pass-through Inputs and Outputs and recurrent nodes
    removed; ``recurrent``: neuron node name -> its recurrent ``Linear``/``Affine`` node name (both in
    ``nodes``, the recurrent one not on the chain)."""

    graph: object
    recurrent: dict[str, str] = field(default_factory=dict)
    nodes: dict[str, object] = field(default_factory=dict)


def _neurons():
    import nir

    return (nir.LIF, nir.IF, nir.CubaLIF)


def _inline(nodes: dict, edges: list[tuple[str, str]]) -> tuple[dict, list[tuple[str, str]]]:
    """Subgraph nodes that hold a cycle (a recurrent layer) replaced by their own nodes, named
    ``<subgraph>.<node>``; edges into a subgraph go to its Inputs, edges out of it leave from its Outputs. Other
    subgraphs stay nodes, which the importer refuses by name."""
    import nir

    def recurrent_layer(node) -> bool:
        return isinstance(node, nir.NIRGraph) and _has_cycle([tuple(e) for e in node.edges])

    while any(recurrent_layer(n) for n in nodes.values()):
        flat: dict = {}
        inner_edges: list[tuple[str, str]] = []
        ins: dict[str, list[str]] = {}
        outs: dict[str, list[str]] = {}
        for name, node in nodes.items():
            if not recurrent_layer(node):
                flat[name] = node
                continue
            for inner, child in node.nodes.items():
                flat[f"{name}.{inner}"] = child
            inner_edges += [(f"{name}.{a}", f"{name}.{b}") for a, b in node.edges]
            ins[name] = [f"{name}.{n}" for n, c in node.nodes.items() if isinstance(c, nir.Input)]
            outs[name] = [f"{name}.{n}" for n, c in node.nodes.items() if isinstance(c, nir.Output)]
        rewired = [(src, dst) for a, b in edges for src in outs.get(a, [a]) for dst in ins.get(b, [b])]
        nodes, edges = flat, rewired + inner_edges
    return nodes, edges


def _bypass(nodes: dict, edges: list[tuple[str, str]]) -> tuple[dict, list[tuple[str, str]]]:
    """Input nodes with an edge into them and Output nodes with an edge out of them pass values through:
    removed, their predecessors joined to their successors."""
    import nir

    def through(name: str) -> bool:
        node = nodes[name]
        if isinstance(node, nir.Input):
            return any(b == name for _, b in edges)
        return isinstance(node, nir.Output) and any(a == name for a, _ in edges)

    for name in [n for n in nodes if through(n)]:
        before = [a for a, b in edges if b == name]
        after = [b for a, b in edges if a == name]
        edges = [e for e in edges if name not in e] + [(a, b) for a in before for b in after]
        del nodes[name]
    return nodes, edges


def unroll(graph) -> Unrolled:
    """The graph as a chain and its recurrent nodes (module docstring); a graph without any is returned as it
    is (``recurrent`` empty), an ``Unrolled`` as it is."""
    import nir

    if isinstance(graph, Unrolled):
        return graph
    nodes, edges = dict(graph.nodes), [tuple(e) for e in graph.edges]
    nested = [n for n in nodes.values() if isinstance(n, nir.NIRGraph)]
    if not any(_has_cycle([tuple(e) for e in n.edges]) for n in nested) and not _has_cycle(edges):
        return Unrolled(graph, {}, nodes)
    nodes, edges = _inline(nodes, edges)
    nodes, edges = _bypass(nodes, edges)
    recurrent: dict[str, str] = {}
    for neuron, rec in list(edges):
        if not isinstance(nodes.get(neuron), _neurons()) or (rec, neuron) not in edges:
            continue
        into = [a for a, b in edges if b == rec]
        out_of = [b for a, b in edges if a == rec]
        if into != [neuron] or out_of != [neuron]:
            continue
        if not isinstance(nodes[rec], (nir.Linear, nir.Affine)):
            raise UnsupportedLayerError(
                f"node {rec!r} ({type(nodes[rec]).__name__}) feeds neuron {neuron!r} back into itself: only a "
                "Linear or Affine recurrence (all-to-all weights) is supported"
            )
        if neuron in recurrent:
            raise UnsupportedLayerError(
                f"neuron {neuron!r} has two recurrent nodes ({recurrent[neuron]!r}, {rec!r}): sum them into one"
            )
        recurrent[neuron] = rec
        edges = [e for e in edges if e not in ((neuron, rec), (rec, neuron))]
    kept = {n: node for n, node in nodes.items() if n not in recurrent.values()}
    flat = nir.NIRGraph(nodes=kept, edges=edges, metadata=dict(graph.metadata or {}), type_check=False)
    return Unrolled(flat, recurrent, nodes)


def _has_cycle(edges: list[tuple[str, str]]) -> bool:
    after: dict[str, list[str]] = {}
    for a, b in edges:
        after.setdefault(a, []).append(b)
    state: dict[str, int] = {}

    def visit(n: str) -> bool:
        state[n] = 1
        for m in after.get(n, []):
            if state.get(m) == 1 or (m not in state and visit(m)):
                return True
        state[n] = 2
        return False

    return any(n not in state and visit(n) for n in list(after))


def cycle_problem(name: str) -> str:
    """The one line for a cycle :func:`unroll` did not take, through node ``name``."""
    return (
        f"the NIR graph has a cycle through {name!r}: only a neuron's own recurrent Linear/Affine "
        "(neuron -> weights -> the same neuron, the Braille layout) is supported"
    )


__all__ = ["Unrolled", "cycle_problem", "unroll"]
