"""The ONNX target's ``--option`` settings, declared once (targets/options.py): the rendered model takes none;
``threads`` is a run setting of the ``onnxruntime`` executor, never recorded."""

from __future__ import annotations

from dataclasses import dataclass

from qsnn_deploy.targets.base import TargetOptions
from qsnn_deploy.targets.options import integer

MAX_THREADS = 1024


@dataclass(frozen=True)
class OnnxSettings(TargetOptions):
    threads: int = integer(1, MAX_THREADS, 1, "onnxruntime's intra-op threads of `verify`", codegen=False)


def onnx_settings(options: TargetOptions) -> OnnxSettings:
    """``options`` as the ONNX target's typed settings: what ``check_model`` made (never parsed again here)."""
    if not isinstance(options, OnnxSettings):
        raise TypeError(f"expected the ONNX target's checked settings, got {type(options).__name__}")
    return options
