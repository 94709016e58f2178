"""``export --builder MODULE:FUNCTION``: the command line's input description of one's own network.

Building the network (``build_from_spec``) and loading its weights-only state_dict (``load_weights``) live in
:mod:`qsnn_deploy.models.builder`, which ``simulate --builder`` shares without importing the exporter.
"""

from __future__ import annotations

from qsnn_deploy.errors import QsnnError
from qsnn_deploy.models.builder import build_from_spec, load_weights

__all__ = ["build_from_spec", "default_input_scale", "load_weights", "parse_input_shape"]


def parse_input_shape(text: str | None) -> tuple[int, int, int] | None:
    """``"1,28,28"`` -> ``(1, 28, 28)``."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise QsnnError(f"--input-shape {text!r}: expected three positive sizes C,H,W, e.g. 1,28,28")
    return shape  # type: ignore[return-value]


def default_input_scale(encoding: str) -> float:
    return 1.0 if encoding == "stream" else 1 / 255
