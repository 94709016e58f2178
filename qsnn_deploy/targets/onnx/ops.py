"""The ONNX target's registration table: every IR op kind it implements, the ONNX nodes it becomes
(docs/targets/onnx.md) and the function of graph.py that writes them. The shared rule ``op_supported``
refuses every other kind."""

from __future__ import annotations

from qsnn_deploy.targets.base import OpImpl
from qsnn_deploy.targets.onnx.graph import EMITTERS, _lif, _recurrent, _requantize, _synaptic

OPS: dict[str, OpImpl] = {
    "conv2d": OpImpl("ConvInteger", emit=EMITTERS["conv2d"]),
    "linear": OpImpl("Flatten + MatMulInteger", emit=EMITTERS["linear"]),
    "sumpool2d": OpImpl("Slice + Reshape + ReduceSum", emit=EMITTERS["sumpool2d"]),
    "maxpool2d": OpImpl("Mul by sign + ReduceMax (int64)", separate_pass=True, emit=EMITTERS["maxpool2d"]),
    "requantize": OpImpl("Mul + Add + floor shift (int64)", emit=_requantize),
    "recurrent": OpImpl(
        "MatMulInteger on the state input `<rec>_spikes_in`, Mul + Add + floor shift (int64), Add",
        emit=_recurrent,
    ),
    "synaptic": OpImpl(
        "Mul + Add + floor shift, Add, Clip (int64) on the state `<syn>_current_in` -> `<syn>_current`",
        emit=_synaptic,
    ),
    "lif": OpImpl("Greater, Where, Mul, Add, Sub, Clip (int64)", emit=_lif),
}
