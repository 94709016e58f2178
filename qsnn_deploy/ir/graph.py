"""The IR graph: an input spec, a chain of ops, and a spike-count readout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from qsnn_deploy.errors import IRValidationError
from qsnn_deploy.ir.ops import LIF, Op, Shape
from qsnn_deploy.ir.types import IntType

IR_VERSION = 3
"""Version of the IR semantics and file format. Bump it when a field or a rule changes; keep a fixture of
every older version under tests/fixtures/ir/ and an upgrader in ir/io.py. Version 3 added the ``synaptic`` and
``recurrent`` ops.

A file carries ``written_version``: the lowest version that holds its ops, so a graph without the newer ops is
read by older qsnn-deploy releases too, and its fingerprint (and every file generated from it) does not change
with a version bump that does not concern it."""

OLDEST_WRITTEN = 2  # version 2 brought the field limits and typed metadata that every file now obeys


def written_version(ops) -> int:
    """The IR version a file of ``ops`` carries: the newest ``since`` among them, at least ``OLDEST_WRITTEN``."""
    return max([OLDEST_WRITTEN, *(op.since for op in ops)])


ENCODINGS = ("static", "stream")


@dataclass(frozen=True)
class InputSpec:
    """One input frame per time step.

    ``static``: the same frame is presented at every step (images as direct current); ``stream``: a new frame
    each step (event counts). ``scale`` is the real value of one input unit (1/255 for pixels, 1 for event
    counts); it is documentation for executors and is already folded into the first Requantize.
    """

    shape: tuple[int, int, int]
    dtype: IntType
    encoding: str = "static"
    scale: float = 1.0

    def check(self) -> None:
        if len(self.shape) != 3 or min(self.shape) < 1:
            raise IRValidationError(f"input shape must be (C, H, W) with positive sizes, got {self.shape}")
        if self.encoding not in ENCODINGS:
            raise IRValidationError(f"input encoding must be one of {ENCODINGS}, got {self.encoding!r}")
        if self.dtype.bits > 16:
            raise IRValidationError(f"input type must be at most 16 bits, got {self.dtype}")


@dataclass(frozen=True)
class Graph:
    """A spiking network in integer form.

    Ops run in order on one sample and one time step at a time; LIF ops carry state between steps. The output
    is the spike train of the last op (a LIF); the prediction is the index of the largest spike count over
    the steps, the lowest index on ties.
    """

    input: InputSpec
    ops: tuple[Op, ...]
    num_steps: int
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = IR_VERSION

    def shapes(self) -> list[tuple[Shape, Shape]]:
        """(input shape, output shape) of every op, checking each op as it goes."""
        result = []
        shape: Shape = tuple(self.input.shape)
        for op in self.ops:
            op.check(shape)
            out = op.out_shape(shape)
            result.append((shape, out))
            shape = out
        return result

    def validate(self) -> Graph:
        """Check shapes, value ranges and the structural rules of docs/ir/graph.md; return self."""
        self.input.check()
        if not self.ops:
            raise IRValidationError("the graph has no ops")
        if self.num_steps < 1:
            raise IRValidationError(f"num_steps must be >= 1, got {self.num_steps}")
        names = [op.name for op in self.ops]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise IRValidationError(f"op names must be unique, repeated: {duplicates}")
        for i, op in enumerate(self.ops):
            if op.follows and (i == 0 or self.ops[i - 1].kind not in op.follows):
                raise IRValidationError(
                    f"{op.kind} {op.name!r} must follow a {' or '.join(op.follows)} op (its input current)"
                )
        self.feedback()  # every recurrent op reads the spikes of a lif of its own layer
        if self.ops[-1].role != "neuron":
            raise IRValidationError("the last op must be a lif layer (its spike counts are the output)")
        shapes = self.shapes()
        if len(shapes[-1][1]) != 1:
            raise IRValidationError(f"the output layer must be a vector, got shape {shapes[-1][1]}")
        return self

    @property
    def num_classes(self) -> int:
        return self.shapes()[-1][1][0]

    def feedback(self) -> dict[str, str]:
        """Neuron op name -> the name of the recurrent op that reads its spikes of the previous step: the
        ``recurrent`` op right before it, or before the ``synaptic`` right before it (docs/ir/graph.md, rule 5).
        Raises IRValidationError for a recurrent op that feeds no such neuron."""
        edges = {}
        for i, op in enumerate(self.ops):
            if op.role != "feedback":
                continue
            after = self.ops[i + 1 : i + 3]
            if after and after[0].role == "current":
                after = after[1:]
            if not after or after[0].role != "neuron":
                raise IRValidationError(
                    f"{op.kind} {op.name!r} must be followed by the lif whose spikes it reads (a synaptic may come "
                    "between)"
                )
            edges[after[0].name] = op.name
        return edges

    def lif_layers(self) -> list[LIF]:
        return [op for op in self.ops if op.role == "neuron"]

    def same_as(self, other: Graph) -> bool:
        return (
            self.input == other.input
            and self.num_steps == other.num_steps
            and self.version == other.version
            and len(self.ops) == len(other.ops)
            and all(a.same_as(b) for a, b in zip(self.ops, other.ops))
            and self.metadata == other.metadata
        )
