"""The ONNX target's building blocks that onnxruntime lacks as operators: the flooring shift (from a truncating
Div) and the requantize built on it, checked against NumPy's arithmetic shift on extreme int64 values; the signed
max pool against the IR's reference."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import TensorProto, helper  # noqa: E402

from qsnn_deploy.ir.ops import Requantize  # noqa: E402
from qsnn_deploy.targets.onnx.graph import _Builder, _requantize  # noqa: E402


def _run(
    builder: _Builder, out: str, x: np.ndarray, dtype=TensorProto.INT64, out_shape: tuple | None = None
) -> np.ndarray:
    """Run the builder's nodes on ``x`` under onnxruntime; the output has ``out_shape`` (default: x's)."""
    shape = list(x.shape if out_shape is None else out_shape)
    g = helper.make_graph(
        builder.nodes, "t", [helper.make_tensor_value_info("x", dtype, list(x.shape))],
        [helper.make_tensor_value_info(out, TensorProto.INT64, shape)], builder.initializers,
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


@pytest.mark.parametrize("kernel,h,w", [(2, 6, 6), (3, 7, 8), (2, 5, 3)])
def test_maxpool_is_a_max_or_a_min_per_channel_on_extreme_int32(kernel: int, h: int, w: int) -> None:
    """Signed max pooling against the IR's int64 reference, with int32 extremes (negating INT32_MIN must not
    wrap) and sizes that leave rows and columns outside any window (dropped, floor)."""
    from types import SimpleNamespace

    from qsnn_deploy.ir.ops import MaxPool2d
    from qsnn_deploy.targets.onnx.graph import _maxpool

    rng = np.random.default_rng(kernel * 100 + h)
    sign = np.array([1, -1, -1, 1], np.int8)
    pool = MaxPool2d("pool", sign, kernel)
    acc = rng.integers(-1000, 1000, (3, 4, h, w)).astype(np.int32)
    acc[0, :, 0, 0] = np.iinfo(np.int32).min
    acc[1, :, 0, 0] = np.iinfo(np.int32).max
    expected = pool.reference(acc)[0]
    plain_max = MaxPool2d("all_max", np.ones(4, np.int8), kernel).reference(acc)[0]
    assert not np.array_equal(expected[:, 1], plain_max[:, 1]), "the min channels must differ from a max"
    b = _Builder()
    out = _maxpool(b, SimpleNamespace(pool=pool, conv_shape=(4, h, w)), "x")
    got = _run(b, out, acc, TensorProto.INT32, expected.shape)
    assert got.shape == expected.shape == (3, 4, h // kernel, w // kernel)
    np.testing.assert_array_equal(got, expected)
