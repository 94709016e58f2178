"""The integer IR: types, ops, graph, file format and range analysis."""

from qsnn_deploy.ir.graph import ENCODINGS, IR_VERSION, Graph, InputSpec
from qsnn_deploy.ir.ops import LIF, OP_TYPES, Conv2d, Linear, MaxPool2d, Op, Requantize, SumPool2d
from qsnn_deploy.ir.types import INT8, INT16, INT32, INT64, UINT8, IntType

__all__ = [
    "ENCODINGS",
    "IR_VERSION",
    "Graph",
    "InputSpec",
    "LIF",
    "OP_TYPES",
    "Conv2d",
    "Linear",
    "MaxPool2d",
    "Op",
    "Requantize",
    "SumPool2d",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "IntType",
    "load_graph",
    "save_graph",
]

from qsnn_deploy.ir.io import load_graph, save_graph  # noqa: E402
