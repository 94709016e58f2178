"""Torch model -> integer IR: handlers per layer kind, folding passes, quantization, fidelity check."""

from qsnn_deploy.export.api import ExportResult, export_checkpoint, export_model

__all__ = ["ExportResult", "export_checkpoint", "export_model"]
