"""The IR's operations: one module per op, holding its frozen dataclass (fields, equation in the docstring,
shape and field checks), its range rule (``bounds``) and its step semantics in int64 NumPy (``reference``).

docs/ir/ops.md is the normative text; the docstrings repeat the equation so a reader of the code need not
switch files. Arrays are stored read-only. Every op knows its output shape and checks its own fields; the
graph checks that ops fit together.

Activations are integer tensors without a batch axis here: ``(C, H, W)`` for maps, ``(N,)`` for vectors; the
``reference`` methods take a leading batch axis.
"""

from qsnn_deploy.ir.ops.base import Op, OpRange, Shape
from qsnn_deploy.ir.ops.conv2d import Conv2d
from qsnn_deploy.ir.ops.lif import LIF, RESET_MODES, lif_membrane_bound
from qsnn_deploy.ir.ops.linear import Linear
from qsnn_deploy.ir.ops.maxpool2d import MaxPool2d
from qsnn_deploy.ir.ops.recurrent import Recurrent
from qsnn_deploy.ir.ops.requantize import Requantize
from qsnn_deploy.ir.ops.sumpool2d import SumPool2d
from qsnn_deploy.ir.ops.synaptic import Synaptic

OP_TYPES: dict[str, type[Op]] = {
    cls.kind: cls for cls in (Conv2d, SumPool2d, MaxPool2d, Linear, Requantize, Recurrent, Synaptic, LIF)
}

__all__ = [
    "LIF",
    "OP_TYPES",
    "RESET_MODES",
    "Conv2d",
    "Linear",
    "MaxPool2d",
    "Op",
    "Recurrent",
    "OpRange",
    "Requantize",
    "Shape",
    "SumPool2d",
    "Synaptic",
    "lif_membrane_bound",
]
