"""The ONNX target: one time step of the integer network as an ONNX model that onnxruntime's CPU provider runs
bit-exactly, plus a driver loop (executor.py) that carries the states (membranes, synaptic currents, a recurrent
layer's spikes) across steps.

graph.py builds the model (docs/targets/onnx.md maps every IR op onto ONNX nodes); rules.py holds the design
rules; onnx and onnxruntime are imported only when a model is rendered or run.
"""

from __future__ import annotations

from pathlib import Path

from qsnn_deploy.atomic import write_bytes_atomic
from qsnn_deploy.errors import QsnnError
from qsnn_deploy.targets import register
from qsnn_deploy.targets.base import CheckedModel, TargetSpec
from qsnn_deploy.targets.onnx.executor import MODEL_FILE, OnnxRuntimeExecutor
from qsnn_deploy.targets.onnx.graph import derived_names
from qsnn_deploy.targets.onnx.ops import OPS
from qsnn_deploy.targets.onnx.rules import RULES
from qsnn_deploy.targets.onnx.settings import OnnxSettings


def render_model(model: CheckedModel):
    """The checked ONNX ModelProto (``onnx.checker`` with full shape inference)."""
    try:
        import onnx
    except ImportError:
        raise QsnnError("the onnx target needs the onnx package: pip install 'qsnn-deploy[onnx]'") from None
    from qsnn_deploy.targets.onnx.graph import build_model

    proto = build_model(model)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def render(model: CheckedModel, out: Path) -> list[Path]:
    return [write_bytes_atomic(Path(out) / MODEL_FILE, render_model(model).SerializeToString())]


TARGET = register(
    TargetSpec(
        name="onnx",
        description="ONNX (one time step; ConvInteger/MatMulInteger and int64 arithmetic) for onnxruntime",
        rules=RULES,
        executors={"onnxruntime": OnnxRuntimeExecutor()},
        render=render,
        settings=OnnxSettings,  # threads: a run setting of verify, never recorded
        derived_names=derived_names,
        ops=OPS,
    )
)
