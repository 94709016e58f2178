"""Torch model -> integer IR: handlers per layer kind, folding passes, quantization, fidelity check."""

from qsnn_deploy.models import torch_stack

# Without the float toolchain, one line says what to install (the CLI prints it), not an import traceback.
torch_stack.require("export (a torch model to the integer IR)")

from qsnn_deploy.export.api import ExportResult, export_builder, export_checkpoint, export_model  # noqa: E402
from qsnn_deploy.export.check import check_exportable  # noqa: E402

__all__ = ["ExportResult", "check_exportable", "export_builder", "export_checkpoint", "export_model"]
