"""Design rules of the ONNX target (the shared ones are in targets/rules.py)."""

from __future__ import annotations

from qsnn_deploy.targets.rules import accumulator_width, input_is_uint8, requant_product_fits_int64

RULES = (
    input_is_uint8,  # the frame is a uint8 tensor, the left operand of ConvInteger/MatMulInteger
    # ConvInteger and MatMulInteger accumulate in int32, and the sum pool adds k*k of their outputs in int32
    accumulator_width("accumulator_fits_int32", 32, "int32 ConvInteger/MatMulInteger accumulator"),
    requant_product_fits_int64,  # requantize and the floor shift run on int64
)
