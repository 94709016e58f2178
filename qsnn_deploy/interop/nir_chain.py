"""A NIR graph as the importer walks it: the chain of nodes from its Input, the input's declared shape, and
the IR's (C, H, W) frame for it (docs/targets/nir.md, "Flat inputs")."""

from __future__ import annotations

import numpy as np

from qsnn_deploy.errors import QsnnError, UnsupportedLayerError
from qsnn_deploy.ir import limits


def chain(graph) -> list[str]:
    """Node names from the single Input to the Output, following the edges; a branch is an error."""
    import nir

    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise UnsupportedLayerError(f"the NIR graph must have exactly one Input node, it has {len(inputs)}")
    after: dict[str, list[str]] = {}
    for src, dst in graph.edges:
        after.setdefault(src, []).append(dst)
    order, name = [inputs[0]], inputs[0]
    while after.get(name):
        if len(after[name]) > 1:
            raise UnsupportedLayerError(
                f"node {name!r} feeds {after[name]}: only a chain of nodes can be imported"
            )
        name = after[name][0]
        if name not in graph.nodes:
            raise UnsupportedLayerError(f"an edge leads to {name!r}, which is not a node of the NIR graph")
        if name in order:
            from qsnn_deploy.interop.nir_recurrent import cycle_problem

            raise UnsupportedLayerError(cycle_problem(name))
        order.append(name)
    missing = sorted(set(graph.nodes) - set(order))
    if missing:
        raise UnsupportedLayerError(
            f"nodes {missing} are not on the chain from {inputs[0]!r}: branches are not supported"
        )
    return order


def whole_numbers(value, name: str, field: str) -> tuple[int, ...]:
    """A node's integer field (a shape, stride, padding, kernel size) as Python ints: a number or a 1-D array
    of numbers, each a whole number of at most 2^31; anything else (NaN, 1e300, text, a matrix) is one line
    naming the node and the field."""
    try:
        arr = np.atleast_1d(np.asarray(value))
        ok = arr.ndim == 1 and arr.dtype.kind in "iufb" and bool(np.all(np.isfinite(arr.astype(np.float64))))
    except (TypeError, ValueError):
        ok = False
    if not ok or not np.all(np.abs(arr.astype(np.float64)) <= 2**31) or not np.all(arr == np.round(arr)):
        shown = str(value).replace("\n", " ")[:60]
        raise UnsupportedLayerError(f"{name!r}: {field} {shown}; whole numbers expected")
    return tuple(int(v) for v in arr)


def declared_shape(node, name: str) -> tuple[int, ...]:
    shape = whole_numbers(node.input_type["input"], name, "input shape")
    if not 1 <= len(shape) <= 3:
        raise UnsupportedLayerError(f"{name!r}: input of shape {shape}; (C, H, W), (H, W) or (F,) expected")
    # the IR's limits (ir/limits.py), checked here before any probe or frame of this shape is allocated
    if min(shape) < 1:
        raise UnsupportedLayerError(f"{name!r}: input of shape {shape}; every size must be at least 1")
    if int(np.prod(shape, dtype=object)) > limits.MAX_ACTIVATION_ELEMENTS:
        raise UnsupportedLayerError(
            f"{name!r}: input of shape {shape} holds {int(np.prod(shape, dtype=object))} values, more than an "
            f"IR input's {limits.MAX_ACTIVATION_ELEMENTS}"
        )
    return shape


def frame_shape(declared: tuple[int, ...], given: tuple[int, ...] | None = None) -> tuple[int, int, int]:
    """The IR's (C, H, W) input for a NIR input shape: (F,) -> (1, 1, F), (H, W) -> (1, H, W); ``given``
    (``--input-shape``) replaces a flat one of the same element count: the first Linear then reads the frame
    flattened in C, H, W order, which is what a flat input of an image network holds."""
    own = declared if len(declared) == 3 else (1, *declared) if len(declared) == 2 else (1, 1, declared[0])
    if given is None or tuple(given) == own:
        return own  # type: ignore[return-value]
    given = tuple(int(v) for v in given)
    if len(given) != 3 or min(given) < 1:
        raise QsnnError(f"--input-shape takes C,H,W (three positive integers), got {given}")
    if int(np.prod(given)) != int(np.prod(declared)):
        raise QsnnError(
            f"--input-shape {','.join(map(str, given))} has {int(np.prod(given))} elements, the graph's input "
            f"{declared} has {int(np.prod(declared))}"
        )
    if sum(v != 1 for v in own) > 1:  # (8, 8) or (2, 34, 34): a frame, whose layout the convs depend on
        raise QsnnError(
            f"the graph's input {declared} is already a frame; --input-shape only shapes a flat input"
        )
    return given  # type: ignore[return-value]


__all__ = ["chain", "declared_shape", "frame_shape", "whole_numbers"]
