"""The ONNX target's building blocks that onnxruntime lacks as operators: the flooring shift (from a truncating
Div) and the requantize built on it, checked against NumPy's arithmetic shift on extreme int64 values."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from qsnn_deploy.ir.ops import Requantize  # noqa: E402
from qsnn_deploy.targets.onnx.graph import _Builder, _requantize  # noqa: E402


def _run(builder: _Builder, out: str, x: np.ndarray, dtype=TensorProto.INT64) -> np.ndarray:
    g = helper.make_graph(
        builder.nodes, "t", [helper.make_tensor_value_info("x", dtype, list(x.shape))],
        [helper.make_tensor_value_info(out, TensorProto.INT64, list(x.shape))], builder.initializers,
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run([out], {"x": x})[0]


@pytest.mark.parametrize("shift", [1, 5, 31, 40, 62])
def test_floor_shift_equals_arithmetic_shift(shift: int) -> None:
    rng = np.random.default_rng(shift)
    edges = [0, 1, -1, 2, -2, (1 << shift) - 1, -(1 << shift) + 1, (1 << shift), -(1 << shift), (1 << 62) - 1,
             -(1 << 62) + 1, (1 << shift) + 1, -(1 << shift) - 1]  # fmt: skip
    x = np.concatenate([np.array(edges, np.int64), rng.integers(-(1 << 62), 1 << 62, 500, dtype=np.int64)])
    b = _Builder()
    out = b.floor_shift("x", shift, "y")
    got = _run(b, out, x)
    np.testing.assert_array_equal(got, np.right_shift(x, shift))


def test_requantize_rounds_half_up_with_negative_multipliers() -> None:
    rq = Requantize("rq", np.array([3, -5, 7]), np.array([-9, 4, 0]), 3)
    acc = np.arange(-40, 40, dtype=np.int32).reshape(1, 1, -1).repeat(3, axis=1)  # (1, C, F) map-like
    acc = acc.reshape(1, 3, 80, 1)
    b = _Builder()
    out = _requantize(b, rq, "x", 4)
    got = _run(b, out, acc, TensorProto.INT32)
    np.testing.assert_array_equal(got, rq.reference(acc)[0])
