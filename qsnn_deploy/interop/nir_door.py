"""What ``qsnn-deploy import`` checks once the IR is built: the truth at the door. (What it prints, with every
registered target's verdict on the graph, is the command's: qsnn_deploy/commands/import_nir.py.)

- Saturation: a LIF layer is reported only when its membrane can leave the state type within the graph's
  ``num_steps`` (the range analysis' current bound, iterated step by step: ``|v_t| <= ceil(decay |v_t-1|) + 1
  + I + threshold``), so an IF layer at int32 over 25 steps is not reported unless it really can saturate.
- A decay (a membrane's or a synaptic current's) that rounds to exactly 1 (no leak where the graph has one) or
  to 0, named with the ``dt`` used.
- Real data: the first ``limit`` test samples of a dataset for the float-versus-integer check; the dataset's
  encoding (and, for a stream, its number of time bins) where neither the options nor the graph give one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.data.frames import fit_frames, is_flat, reshapes_to
from qsnn_deploy.errors import QsnnError
from qsnn_deploy.ir.graph import Graph
from qsnn_deploy.ir.saturation import SATURATION, saturating_layers


def dataset_defaults(
    dataset: str | None, meta: dict, encoding: str | None, num_steps: int | None, notes: list[str]
) -> tuple[str | None, int | None]:
    """``encoding`` and ``num_steps`` completed from ``dataset`` where neither the options nor the graph's
    metadata give them (NIR has no notion of either): the dataset's kind, and for a stream dataset its default
    number of time bins (a property of the recordings; a static dataset says nothing about steps). A given or
    recorded encoding that is not the dataset's kind is refused in one line: the frames could not fit."""
    from qsnn_deploy.data.registry import DATASET_KINDS, KIND_ENCODINGS, STREAM_STEPS
    from qsnn_deploy.interop.conventions import text

    if dataset is None:
        return encoding, num_steps
    kind, taken = KIND_ENCODINGS[DATASET_KINDS[dataset]], []  # a sequence dataset feeds a stream
    if encoding is None and "encoding" not in meta:
        encoding = kind
        if kind == "stream":  # static is also the default without a dataset: nothing new to say
            taken.append(f"encoding {kind}")
    chosen = encoding if encoding is not None else text(meta["encoding"])
    if chosen != kind:
        raise QsnnError(
            f"dataset {dataset} gives {kind} inputs but the model's encoding is {chosen}; pass --encoding {kind} "
            f"or a {chosen} dataset"
        )
    if num_steps is None and "num_steps" not in meta and kind == "stream":
        num_steps = STREAM_STEPS[dataset]
        taken.append(f"{num_steps} steps (its default time bins)")
    if taken:
        notes.append(f"{' and '.join(taken)} from dataset {dataset} (the graph records none; "
                     "--encoding/--num-steps override)")  # fmt: skip
    return encoding, num_steps


def load_samples(
    dataset: str, data_dir: Path | None, limit: int, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` test samples of ``dataset`` (uint8 inputs, labels)."""
    from qsnn_deploy.data import load_dataset

    data = load_dataset(dataset, "test", data_dir=data_dir, limit=limit, num_steps=steps).as_frames()
    return np.asarray(data.inputs, dtype=np.uint8), np.asarray(data.labels)


def adopt_frame(nir_graph, inputs: np.ndarray, dataset: str, notes: list[str]) -> tuple[int, int, int] | None:
    """The dataset's frame shape for a graph whose input is flat with as many elements, else None."""
    import nir

    from qsnn_deploy.interop.nir_chain import declared_shape

    declared = next(
        declared_shape(node, name) for name, node in nir_graph.nodes.items() if isinstance(node, nir.Input)
    )
    frame = tuple(int(v) for v in inputs.shape[-3:])
    if len(declared) > 2 or not is_flat(declared) or not reshapes_to(frame, declared):
        return None
    notes.append(
        f"the graph's flat input {declared} reads {dataset}'s {frame} frames flattened in C, H, W order "
        "(--input-shape sets another shape)"
    )
    return frame  # type: ignore[return-value]


def add_accuracy(check: dict, labels: np.ndarray, dataset: str, own=None, raw=None) -> None:
    """Accuracies on the real labels: ``float_accuracy`` (the float chain with the quantized weights, which
    the integer model is checked against), ``int_accuracy``, and with ``own`` (the float chain with the
    graph's own weights) ``nir_float_accuracy``, the number to hold against the library's."""
    from qsnn_deploy.export.float_graph import run_float

    n = check["samples"]
    check["dataset"] = dataset
    if own is not None:
        check["nir_float_accuracy"] = float(np.mean(np.argmax(run_float(own, raw), axis=1) == labels[:n]))
    check["float_accuracy"] = float(np.mean(check["float_predictions"] == labels[:n]))
    check["int_accuracy"] = float(np.mean(check["int_predictions"] == labels[:n]))


def node_label(ir: str, originals: dict[str, str]) -> str:
    """An IR op name with the NIR node's own name where the two differ (``layer0 (NIR node '0')``)."""
    original = originals.get(ir, ir)
    return ir if original == ir else f"{ir} (NIR node {original!r})"


def true_warnings(graph: Graph, warnings: list[str], dt: float, names: dict) -> list[str]:
    """``warnings`` without the exporter's infinite-horizon saturation warnings, plus a saturation warning
    for each membrane or synaptic current that can saturate within ``num_steps`` (ir/saturation.py) and one
    for each decay that rounds to 1 or 0."""
    from qsnn_deploy.ir import metadata as meta

    originals = {ir: str(name) for name, ir in names.items()}
    out = [w for w in warnings if SATURATION not in w]
    out += [s.message(node_label(s.op.name, originals)) for s in saturating_layers(graph)]
    out += _synaptic_decay_warnings(graph, dt, originals)
    for op in graph.ops:
        if op.kind != "lif":
            continue
        label = node_label(op.name, originals)
        info = meta.lif_layer(graph.metadata, op.name)
        beta = float("nan") if info is None else info.beta
        if op.decay == 1.0 and beta < 1.0:
            out.append(
                f"{label}: decay {beta:.6g} per step rounds to exactly 1 at dt {dt:g}: no leak, where the graph has one"
            )
        elif op.decay == 0.0 and beta > 0.0:
            out.append(
                f"{label}: decay {beta:.3g} per step rounds to 0 at dt {dt:g}: the membrane keeps nothing"
            )
    return out


def _synaptic_decay_warnings(graph: Graph, dt: float, originals: dict[str, str]) -> list[str]:
    """A synaptic decay that rounds to exactly 1 (a current that never decays) or to 0 (no synapse left), named
    by the neuron node it belongs to (the LIF after it)."""
    layers = graph.metadata.get("lif_layers", {})
    out = []
    for op, lif in zip(graph.ops, graph.ops[1:], strict=False):
        alpha = layers.get(lif.name, {}).get("alpha") if op.kind == "synaptic" else None
        if alpha is None:
            continue
        label = node_label(lif.name, originals)
        if op.decay == 1.0 and alpha < 1.0:
            out.append(f"{label}: synaptic decay {alpha:.6g} per step rounds to exactly 1 at dt {dt:g}: a current "
                       "that never decays, where the graph's does")  # fmt: skip
        elif op.decay == 0.0 and alpha > 0.0:
            out.append(f"{label}: synaptic decay {alpha:.3g} per step rounds to 0 at dt {dt:g}: the synapse keeps "
                       "nothing")  # fmt: skip
    return out


__all__ = ["add_accuracy", "adopt_frame", "fit_frames", "load_samples", "node_label", "true_warnings"]
