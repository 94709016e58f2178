"""The integer network as one ONNX time step: IR layers -> ONNX nodes that onnxruntime's CPU provider runs.

The model computes one step of every layer. Its inputs are the frame of this step (uint8, ``N x C x H x W``)
and every LIF layer's membrane left by the previous step (``<lif>_membrane_in``, int32); its outputs are every
LIF layer's spikes (``<lif>_spikes``, uint8) and new membrane (``<lif>_membrane``, int32). A layer with a
synaptic current adds its current as state the same way (``<syn>_current_in`` -> ``<syn>_current``, int32); a
recurrent layer takes its LIF's spikes of the previous step (``<rec>_spikes_in``, uint8, fed from
``<lif>_spikes``). A driver feeds the states back (executor.py); docs/targets/onnx.md maps every IR op onto
these nodes.

Only operators onnxruntime implements for these types are used: ConvInteger and MatMulInteger (uint8 x int8
-> int32), ReduceSum on int32, ReduceMax on int64, and Cast, Mul, Add, Sub, Div (truncating), Less, Greater,
Where and Clip on int64. Where the IR floors (``>>``), ``floor_shift`` builds the floor from the truncating Div.
"""

from __future__ import annotations

import numpy as np

from qsnn_deploy.ir.ops import LIF, Recurrent, Requantize, Synaptic
from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import CheckedModel, RuleInput
from qsnn_deploy.targets.names import Derived, fixed, from_patterns

OPSET = 17
IR_VERSION = 8  # the ONNX file format of opset 17: readable by onnxruntime 1.13 and later
FRAME = "frame"
# Every tensor and node name this module derives from an op name (by role; _Builder.floor_shift adds FLOOR to the
# name of what it shifts). The shared rule unique_generated_names refuses two sources of one name (onnx itself
# would end in "initializer name is not unique"); test_name_collisions.py builds models and checks the list.
FLOOR = ("", "_zero", "_negative", "_round_down", "_lowered", "_floor_input", "_divisor")
ONNX_NAMES = {
    "synapse": ("{name}_weight", "{name}_acc", "{name}_flat"),
    "pool": ("{name}_starts", "{name}_ends", "{name}_axes", "{name}_crop", "{name}_windows_shape",
             "{name}_windows", "{name}_axes_sum", "{name}_sum", "{name}_sign", "{name}_acc64", "{name}_signed",
             "{name}_signed_max", "{name}_max"),
    "requantize": ("{name}_acc64", "{name}_multiplier", "{name}_product", "{name}_bias_round", "{name}_biased",
                   *(f"{{name}}_current{s}" for s in FLOOR)),
    "recurrent": ("{name}_spikes_in", "{name}_weight", "{name}_acc", "{name}_acc64", "{name}_multiplier",
                  "{name}_product", "{name}_half", "{name}_biased", *(f"{{name}}_rescaled{s}" for s in FLOOR),
                  "{name}_total"),
    "synaptic": ("{name}_current_in", "{name}_current", "{name}_i", "{name}_decay_multiplier", "{name}_scaled",
                 "{name}_decay_half", "{name}_scaled_half", *(f"{{name}}_decayed{s}" for s in FLOOR),
                 "{name}_update", "{name}_state_min", "{name}_state_max", "{name}_saturated"),
    "lif": ("{name}_membrane_in", "{name}_membrane", "{name}_spikes", "{name}_reset_threshold", "{name}_v",
            "{name}_threshold", "{name}_fired", "{name}_zero", "{name}_kept", "{name}_decay_multiplier",
            "{name}_scaled", "{name}_decay_half", "{name}_scaled_half", *(f"{{name}}_decayed{s}" for s in FLOOR),
            "{name}_update", "{name}_fired64", "{name}_removed", "{name}_reset", "{name}_state_min",
            "{name}_state_max", "{name}_saturated", "{name}_fire"),
}  # fmt: skip


def derived_names(inp: RuleInput) -> list[Derived]:
    return [
        *fixed((FRAME,), "the ONNX input"),
        *from_patterns(inp.layers, inp.options.prefix, ONNX_NAMES, "ONNX name"),
    ]


def membrane_in(lif: LIF) -> str:
    return f"{lif.name}_membrane_in"


def membrane_out(lif: LIF) -> str:
    return f"{lif.name}_membrane"


def spikes_out(lif: LIF) -> str:
    return f"{lif.name}_spikes"


def current_in(syn: Synaptic) -> str:
    return f"{syn.name}_current_in"


def current_out(syn: Synaptic) -> str:
    return f"{syn.name}_current"


def spikes_in(rec: Recurrent) -> str:
    """The state input of a recurrent op: its LIF's ``spikes_out`` of the previous step."""
    return f"{rec.name}_spikes_in"


def reset_threshold(lif: LIF) -> str:
    """The initializer that the subtract reset removes (kept apart from the firing threshold, so a test can
    mutate the reset alone)."""
    return f"{lif.name}_reset_threshold"


class _Builder:
    """Collects nodes and constant initializers; every name is prefixed by the IR op it implements."""

    def __init__(self) -> None:
        from onnx import TensorProto, helper, numpy_helper

        self.helper, self.numpy_helper, self.tp = helper, numpy_helper, TensorProto
        self.nodes: list = []
        self.initializers: list = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def i64(self, x: str, out: str) -> str:
        return self.node("Cast", [x], out, to=self.tp.INT64)

    def floor_shift(self, x: str, shift: int, out: str) -> str:
        """``x >> shift`` (floor) on int64: Div truncates toward 0, so negative values are first moved down by
        ``2^shift - 1``. ``x - 2^shift + 1`` cannot overflow: the range analysis keeps ``|x| < 2^62`` (the
        requant_product_fits_int64 rule) and ``shift <= 62``."""
        if shift == 0:
            return x
        divisor = 1 << shift
        zero = self.const(f"{out}_zero", np.array(0, np.int64))
        negative = self.node("Less", [x, zero], f"{out}_negative")
        lowered = self.node("Sub", [x, self.const(f"{out}_round_down", np.array(divisor - 1, np.int64))],
                            f"{out}_lowered")  # fmt: skip
        chosen = self.node("Where", [negative, lowered, x], f"{out}_floor_input")
        return self.node("Div", [chosen, self.const(f"{out}_divisor", np.array(divisor, np.int64))], out)


def _channel_shape(values: np.ndarray, ndim: int) -> np.ndarray:
    """Per-channel constants broadcast over the (N, C, H, W) or (N, C) activation."""
    return np.asarray(values, dtype=np.int64).reshape((-1,) + (1,) * (ndim - 2))


def _conv(b: _Builder, layer: Layer, x: str) -> str:
    """ConvInteger: uint8 frame or spikes times int8 weights, int32 accumulators."""
    op = layer.op
    w = b.const(f"{op.name}_weight", op.weight.astype(np.int8))
    p, s = op.padding, op.stride
    return b.node("ConvInteger", [x, w], f"{op.name}_acc", pads=[p, p, p, p], strides=[s, s])


def _matmul(b: _Builder, layer: Layer, x: str) -> str:
    """MatMulInteger on the flattened input: uint8 frame or spikes times int8 weights, int32 accumulators."""
    op = layer.op
    flat = b.node("Flatten", [x], f"{op.name}_flat", axis=1)
    w = b.const(f"{op.name}_weight", np.ascontiguousarray(op.weight.T).astype(np.int8))
    return b.node("MatMulInteger", [flat, w], f"{op.name}_acc")


def _windows(b: _Builder, layer: Layer, acc: str) -> str:
    """The pool's non-overlapping k x k windows: crop to whole windows (floor, as the IR), then reshape to
    (N, C, H/k, k, W/k, k); the window axes are 3 and 5."""
    pool = layer.pool
    k = pool.kernel
    c, h, w = layer.conv_shape
    ho, wo = h // k, w // k
    if (ho * k, wo * k) != (h, w):
        acc = b.node(
            "Slice",
            [acc, b.const(f"{pool.name}_starts", np.array([0, 0], np.int64)),
             b.const(f"{pool.name}_ends", np.array([ho * k, wo * k], np.int64)),
             b.const(f"{pool.name}_axes", np.array([2, 3], np.int64))],
            f"{pool.name}_crop",
        )  # fmt: skip
    shape = b.const(f"{pool.name}_windows_shape", np.array([-1, c, ho, k, wo, k], np.int64))
    return b.node("Reshape", [acc, shape], f"{pool.name}_windows")


def _sumpool(b: _Builder, layer: Layer, acc: str) -> str:
    """Non-overlapping k x k sums: ReduceSum of the two window axes (int32; the accumulator rule bounds the
    sums)."""
    pool = layer.pool
    windows = _windows(b, layer, acc)
    axes = b.const(f"{pool.name}_axes_sum", np.array([3, 5], np.int64))
    return b.node("ReduceSum", [windows, axes], f"{pool.name}_sum", keepdims=0)


def _maxpool(b: _Builder, layer: Layer, acc: str) -> str:
    """``sign[c] * max(sign[c] * x)`` over each window: a max where sign is 1, a min where it is -1. In int64, so
    negating any int32 accumulator is exact; ReduceMax (opset 17: axes as an attribute) runs on int64 in
    onnxruntime's CPU provider. The output is one of the window's inputs, an int64 accumulator."""
    pool = layer.pool
    sign = b.const(f"{pool.name}_sign", np.asarray(pool.sign, np.int64).reshape(-1, 1, 1))
    signed = b.node("Mul", [b.i64(acc, f"{pool.name}_acc64"), sign], f"{pool.name}_signed")
    windows = _windows(b, layer, signed)
    largest = b.node("ReduceMax", [windows], f"{pool.name}_signed_max", axes=[3, 5], keepdims=0)
    return b.node("Mul", [largest, sign], f"{pool.name}_max")


def _requantize(b: _Builder, rq: Requantize, acc: str, ndim: int) -> str:
    """``(x * m + b + r) >> s`` in int64 (exact: the range analysis bounds it below 2^63)."""
    x = b.i64(acc, f"{rq.name}_acc64")
    product = b.node("Mul", [x, b.const(f"{rq.name}_multiplier", _channel_shape(rq.multiplier, ndim))],
                     f"{rq.name}_product")  # fmt: skip
    r = (1 << (rq.shift - 1)) if rq.shift else 0
    offset = b.const(f"{rq.name}_bias_round", _channel_shape(rq.bias.astype(np.int64) + r, ndim))
    biased = b.node("Add", [product, offset], f"{rq.name}_biased")
    return b.floor_shift(biased, rq.shift, f"{rq.name}_current")


def _decay(b: _Builder, name: str, state: str, multiplier: int, shift: int) -> str:
    """``(state * multiplier + h) >> shift`` with ``h = 2^(shift-1)`` (0 when shift is 0): round half up, the
    decay of the LIF and of the synaptic current, in int64 (|state| < 2^31 and multiplier <= 2^31)."""
    scaled = b.node("Mul", [state, b.const(f"{name}_decay_multiplier", np.array(multiplier, np.int64))],
                    f"{name}_scaled")  # fmt: skip
    if shift:
        h = b.const(f"{name}_decay_half", np.array(1 << (shift - 1), np.int64))
        scaled = b.node("Add", [scaled, h], f"{name}_scaled_half")
    return b.floor_shift(scaled, shift, f"{name}_decayed")


def _recurrent(b: _Builder, rec: Recurrent, current: str) -> str:
    """docs/ir/ops.md#recurrent: ``x + ((W @ s) * m + h) >> shift``. ``s`` is the state input
    ``<rec>_spikes_in`` (uint8, the LIF's spikes of the previous step), ``W @ s`` a MatMulInteger with ``Wᵀ``
    (int8, ``(from, to)``) into int32 (exact: at most N * 128), the rescale in int64 (below 2^51, the op's
    field limits). Returns the int64 current the synaptic op or the LIF takes."""
    w = b.const(f"{rec.name}_weight", np.ascontiguousarray(rec.weight.T).astype(np.int8))
    acc = b.i64(b.node("MatMulInteger", [spikes_in(rec), w], f"{rec.name}_acc"), f"{rec.name}_acc64")
    m = b.const(f"{rec.name}_multiplier", rec.multiplier.astype(np.int64))
    product = b.node("Mul", [acc, m], f"{rec.name}_product")
    if rec.shift:
        h = b.const(f"{rec.name}_half", np.array(1 << (rec.shift - 1), np.int64))
        product = b.node("Add", [product, h], f"{rec.name}_biased")
    rescaled = b.floor_shift(product, rec.shift, f"{rec.name}_rescaled")
    return b.node("Add", [current, rescaled], f"{rec.name}_total")  # "_total": "_sum" ends a pool's name


def _synaptic(b: _Builder, syn: Synaptic, x: str) -> tuple[str, str]:
    """docs/ir/ops.md#synaptic: ``i = saturate(((i * m + h) >> s) + x)`` in int64 from the state input
    ``<syn>_current_in`` (int32). Returns (the int64 current the LIF integrates at this step, the int32 state
    output ``<syn>_current``)."""
    i = b.i64(current_in(syn), f"{syn.name}_i")
    decayed = _decay(b, syn.name, i, syn.decay_multiplier, syn.decay_shift)
    update = b.node("Add", [decayed, x], f"{syn.name}_update")
    st = syn.state_type
    lo = b.const(f"{syn.name}_state_min", np.array(st.min, np.int64))
    hi = b.const(f"{syn.name}_state_max", np.array(st.max, np.int64))
    current = b.node("Clip", [update, lo, hi], f"{syn.name}_saturated")
    return current, b.node("Cast", [current], current_out(syn), to=b.tp.INT32)


def _lif(b: _Builder, lif: LIF, current: str) -> tuple[str, str]:
    """The six steps of docs/ir/ops.md#lif in int64; returns (spikes uint8, membrane int32)."""
    v = b.i64(membrane_in(lif), f"{lif.name}_v")
    theta = b.const(f"{lif.name}_threshold", np.array(lif.threshold, np.int64))
    fired = b.node("Greater", [v, theta], f"{lif.name}_fired")  # 1. from the previous membrane
    if lif.reset == "zero":  # 2.
        v = b.node(
            "Where", [fired, b.const(f"{lif.name}_zero", np.array(0, np.int64)), v], f"{lif.name}_kept"
        )
    decayed = _decay(b, lif.name, v, lif.decay_multiplier, lif.decay_shift)  # 3. round half up
    update = b.node("Add", [decayed, current], f"{lif.name}_update")  # 4.
    if lif.reset == "subtract":
        removed = b.node("Mul", [b.i64(fired, f"{lif.name}_fired64"),
                                 b.const(reset_threshold(lif), np.array(lif.threshold, np.int64))],
                         f"{lif.name}_removed")  # fmt: skip
        update = b.node("Sub", [update, removed], f"{lif.name}_reset")
    st = lif.state_type
    lo = b.const(f"{lif.name}_state_min", np.array(st.min, np.int64))
    hi = b.const(f"{lif.name}_state_max", np.array(st.max, np.int64))
    membrane = b.node("Clip", [update, lo, hi], f"{lif.name}_saturated")  # 5.
    fire = b.node("Greater", [membrane, theta], f"{lif.name}_fire")  # 6. strictly greater
    spikes = b.node("Cast", [fire], spikes_out(lif), to=b.tp.UINT8)
    out = b.node("Cast", [membrane], membrane_out(lif), to=b.tp.INT32)
    return spikes, out


# What writes each op kind's nodes (a synapse or pool; the requantize and LIF are written once per layer, by
# _requantize and _lif); ops.py registers them as the target's table.
EMITTERS = {"conv2d": _conv, "linear": _matmul, "sumpool2d": _sumpool, "maxpool2d": _maxpool}


def build_model(model: CheckedModel):
    """The ONNX ModelProto of one time step of ``model``'s graph."""
    from onnx import TensorProto, helper

    b = _Builder()
    graph = model.graph
    batch = "N"
    inputs = [helper.make_tensor_value_info(FRAME, TensorProto.UINT8, [batch, *graph.input.shape])]
    outputs = []
    x = FRAME
    for layer in model.layers:
        shape = [batch, *layer.out_shape]
        inputs.append(helper.make_tensor_value_info(membrane_in(layer.lif), TensorProto.INT32, shape))
        acc = EMITTERS[layer.op.kind](b, layer, x)
        if layer.pool is not None:
            acc = EMITTERS[layer.pool.kind](b, layer, acc)
        current = _requantize(b, layer.rq, acc, 1 + len(layer.out_shape))
        if layer.recurrent is not None:
            inputs.append(helper.make_tensor_value_info(spikes_in(layer.recurrent), TensorProto.UINT8, shape))
            current = _recurrent(b, layer.recurrent, current)
        syn_state = None
        if layer.current is not None:
            inputs.append(helper.make_tensor_value_info(current_in(layer.current), TensorProto.INT32, shape))
            current, syn_state = _synaptic(b, layer.current, current)
        x, membrane = _lif(b, layer.lif, current)
        outputs.append(helper.make_tensor_value_info(x, TensorProto.UINT8, shape))
        outputs.append(helper.make_tensor_value_info(membrane, TensorProto.INT32, shape))
        if syn_state is not None:
            outputs.append(helper.make_tensor_value_info(syn_state, TensorProto.INT32, shape))
    doc = ("One time step of an integer spiking network (qsnn-deploy); feed each *_membrane output back as "
           "*_membrane_in at the next step, zeros before the first.")  # fmt: skip
    feedback = [(spikes_in(layer.recurrent), spikes_out(layer.lif)) for layer in model.layers
                if layer.recurrent is not None]  # fmt: skip
    if any(layer.current is not None for layer in model.layers):
        doc += " Each *_current output goes back as *_current_in the same way."
    if feedback:
        doc += " " + ", ".join(f"{s} feeds {i}" for i, s in feedback) + " at the next step (zeros first)."
    onnx_graph = helper.make_graph(b.nodes, "qsnn_step", inputs, outputs, b.initializers, doc_string=doc)
    onnx_model = helper.make_model(
        onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="qsnn-deploy"
    )
    onnx_model.ir_version = IR_VERSION
    meta = {
        "qsnn.num_steps": str(graph.num_steps),
        "qsnn.encoding": graph.input.encoding,
        "qsnn.input_scale": repr(float(graph.input.scale)),
        "qsnn.lif_layers": ",".join(layer.lif.name for layer in model.layers),
    }
    if feedback:  # recurrent layers only: graphs without one keep their metadata (and bytes) unchanged
        meta["qsnn.feedback"] = ",".join(f"{s}->{i}" for i, s in feedback)
    helper.set_model_props(onnx_model, meta)
    return onnx_model


__all__ = ["FRAME", "IR_VERSION", "OPSET", "build_model", "current_in", "current_out", "derived_names", "membrane_in",
           "membrane_out", "reset_threshold", "spikes_in", "spikes_out"]  # fmt: skip
