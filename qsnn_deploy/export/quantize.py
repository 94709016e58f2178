"""Folded float chain -> integer IR: membrane scales, integer thresholds, decays and requantizers.

For each LIF layer the exporter picks the membrane scale ``s`` (real membrane = integer * s) so that the
range analysis proves the membrane never leaves the state type, with as much resolution as that allows
(docs/export.md). The requantizer then maps the integer accumulator onto that scale:
``multiplier = round(a / s * 2**shift)``, ``bias = round(b / s * 2**shift)`` for the folded affine ``a x + b``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from qsnn_deploy.errors import UnsupportedLayerError
from qsnn_deploy.export.float_graph import Affine, FloatGraph, IntConv, IntLinear, Leaky, MaxPool, SumPool
from qsnn_deploy.ir.graph import Graph, InputSpec
from qsnn_deploy.ir.ops import (
    LIF,
    Conv2d,
    Linear,
    MaxPool2d,
    Op,
    Recurrent,
    Requantize,
    SumPool2d,
    Synaptic,
)
from qsnn_deploy.ir.ranges import analyse_ops
from qsnn_deploy.ir.types import INT32, INT64, UINT8, IntType

INT32_MAX = (1 << 31) - 1


@dataclass(frozen=True)
class QuantOptions:
    state_bits: int = 32
    decay_max_shift: int = 16  # decay = multiplier / 2**shift; 16 bits resolve beta to 1.5e-5
    min_threshold: int = 1 << 10  # below this the membrane is too coarse: accept possible saturation instead
    max_threshold: int = 1 << 20  # more resolution buys nothing measurable and enlarges multipliers
    max_requant_shift: int = 40


def quantize_decay(beta: float, max_shift: int) -> tuple[int, int]:
    """(multiplier, shift) for beta clamped to [0, 1] as snnTorch does: the smallest exact shift if there is one
    (a pure shift for beta = 1/2, 3/4, ...), else the maximal shift with the nearest multiplier."""
    beta = min(max(beta, 0.0), 1.0)
    for shift in range(max_shift + 1):
        scaled = beta * (1 << shift)
        if scaled == int(scaled):
            return int(scaled), shift
    return int(round(beta * (1 << max_shift))), max_shift


def saturation_warning(name: str, state: IntType, threshold: int, leaky: bool) -> str:
    """The warning for a layer the range analysis cannot bound within ``state`` (over an unbounded run).
    Without leak no width bounds it, so "--state-bits 32" is advice only where the state is narrower and only
    as headroom; with leak 32 bits gives a proof (choose_threshold keeps the fixed point within int32)."""
    head = f"{name}: with {state} state the membrane can saturate for extreme inputs (threshold {threshold})"
    if leaky:
        return f"{head}; use --state-bits 32 for a proof that it cannot"
    wider = "; --state-bits 32 gives it more headroom" if state.bits < 32 else ""
    return (
        f"{head} over a long enough run: without leak no width bounds it, and the simulator and every target "
        f"clamp it alike{wider}"
    )


def choose_threshold(
    current_ratio: float, decay: float, state: IntType, opts: QuantOptions
) -> tuple[int, bool]:
    """Integer threshold and whether the membrane can saturate.

    With ``I`` the current bound in units of the threshold, the range analysis bounds the membrane by
    ``(th * (I + 1) + 2) / (1 - decay)``; the largest ``th`` keeping that within the state type wins."""
    if decay >= 1.0:
        return min(opts.max_threshold, state.max // 16), True
    fit = math.floor((state.max * (1.0 - decay) - 2.0) / (current_ratio + 1.0))
    if fit >= opts.min_threshold:
        return min(fit, opts.max_threshold), False
    return max(fit, min(opts.min_threshold, state.max // 16)), True


def synaptic_threshold(
    current_ratio: float, decay: float, alpha: float, state: IntType, opts: QuantOptions
) -> tuple[int, bool]:
    """``choose_threshold`` for a LIF driven by a synaptic current of decay ``alpha``: the current sums the
    input's bound over a geometric series, ``I / (1 - alpha)``, plus its roundings (the requantize's, at most
    1 LSB, and the decay's, 1/2 LSB per step: ``(X + 1) / (1 - alpha)`` in ranges.md), here in units of a
    threshold of at least ``min_threshold``. Without synaptic decay (alpha = 1) nothing bounds it."""
    if alpha >= 1.0:
        return min(opts.max_threshold, state.max // 16), True
    return choose_threshold((current_ratio + 4.0 / opts.min_threshold) / (1.0 - alpha), decay, state, opts)


def synaptic_name(layer: str) -> str:
    """The IR name of a layer's synaptic current (its requantize is ``<layer>_current``)."""
    return f"{layer}_synaptic"


def recurrent_name(layer: str) -> str:
    """The IR name of a layer's recurrent op."""
    return f"{layer}_recurrent"


RECURRENT_MAX_SHIFT = 40  # as the requantizer's: the product a * m stays below 2**51 (|a| <= N * 2**7)


def recurrent_bound(rec: IntLinear) -> np.ndarray:
    """Per neuron, the largest magnitude of the recurrent current (bias included) for spikes in {0, 1}."""
    w = rec.weight * np.asarray(rec.scale, dtype=np.float64).reshape(-1, 1)
    bias = np.zeros(len(w)) if rec.bias is None else np.asarray(rec.bias, dtype=np.float64)
    return np.maximum(np.maximum(w, 0).sum(axis=1) + bias, -(np.minimum(w, 0).sum(axis=1) + bias))


def _recurrent_op(layer: str, rec: IntLinear, membrane_scale: float) -> Recurrent:
    """``W_int @ s`` rescaled into membrane LSBs: ``multiplier = round(scale / s_m * 2**shift)`` with the
    largest shift whose multipliers fit int32 (the bias went into the requantize)."""
    ratio = np.asarray(rec.scale, dtype=np.float64) / membrane_scale
    largest = float(np.abs(ratio).max(initial=0.0))
    shift = 0
    for candidate in range(RECURRENT_MAX_SHIFT, -1, -1):
        if round(largest * 2**candidate) <= INT32_MAX:
            shift = candidate
            break
    multiplier = np.round(ratio * 2.0**shift).astype(np.int64)
    if np.any(np.abs(multiplier) > INT32_MAX):
        raise UnsupportedLayerError(
            f"layer {rec.name!r}: its scale {largest:.3g} is too large to rescale into membrane units in int32"
        )
    return Recurrent(recurrent_name(layer), rec.weight, multiplier, IntType(rec.bits), shift, INT32)


def _requantizer(
    name: str, scale: np.ndarray, offset: np.ndarray, acc_peak: int, opts: QuantOptions
) -> Requantize:
    largest = float(np.abs(scale).max(initial=0.0))
    shift = 0
    if largest > 0:
        for candidate in range(opts.max_requant_shift, -1, -1):
            m_max = round(largest * 2**candidate)
            b_max = float(np.abs(offset).max(initial=0.0)) * 2**candidate
            if m_max <= INT32_MAX and acc_peak * m_max + b_max < 2**62:
                shift = candidate
                break
    multiplier = np.round(scale * 2.0**shift).astype(np.int64)
    bias = np.round(offset * 2.0**shift).astype(np.int64)
    if np.any(np.abs(multiplier) > INT32_MAX):
        raise UnsupportedLayerError(
            f"layer {name!r}: its scale {largest:.3g} is too large to requantize in int32"
        )
    return Requantize(name, multiplier, bias, shift, INT32)


def to_ir(fg: FloatGraph, original_input_scale: float, opts: QuantOptions) -> tuple[Graph, dict, list[str]]:
    """Build the IR from a folded chain. Returns (graph, per-LIF metadata, warnings)."""
    spec = InputSpec(tuple(fg.input_shape), UINT8, fg.encoding, float(original_input_scale))
    state = IntType(opts.state_bits)
    ops: list[Op] = []
    layer_meta: dict[str, dict] = {}
    warnings: list[str] = []
    affine: Affine | None = None
    for layer in fg.layers:
        if isinstance(layer, IntConv):
            ops.append(
                Conv2d(layer.name, layer.weight, IntType(layer.bits), layer.stride, layer.padding, INT64)
            )
        elif isinstance(layer, IntLinear):
            ops.append(Linear(layer.name, layer.weight, IntType(layer.bits), INT64))
        elif isinstance(layer, (SumPool, MaxPool)):
            if affine is not None:  # the passes move every affine past a pool; one left here would be lost
                raise UnsupportedLayerError(f"{affine.name!r} before pool {layer.name!r} was not folded away")
            if isinstance(layer, SumPool):
                ops.append(SumPool2d(layer.name, layer.kernel, INT64))
            else:
                # The integer max equals the float max: the affine after the pool maps the accumulator onto the
                # float value, and where its scale is negative the pass has made that channel's sign -1.
                sign = layer.signs(_channels(spec, ops)).astype(np.int8)
                ops.append(MaxPool2d(layer.name, sign, layer.kernel))
        elif isinstance(layer, Affine):
            if affine is not None:
                raise UnsupportedLayerError(
                    f"two affine layers in a row before {layer.name!r} (folding failed)"
                )
            affine = layer
        elif isinstance(layer, Leaky):
            if not ops:
                raise UnsupportedLayerError(f"LIF layer {layer.name!r} has no weighted layer before it")
            last = analyse_ops(spec, ops)[-1]
            lo, hi = np.array(last.lo, dtype=np.float64), np.array(last.hi, dtype=np.float64)
            if affine is None:
                affine = Affine(f"{layer.name}.in", np.ones(len(lo)), np.zeros(len(lo)))
            if len(affine.scale) != len(lo):
                raise UnsupportedLayerError(
                    f"{affine.name!r} has {len(affine.scale)} channels but feeds {len(lo)} (a per-feature affine "
                    "after a flatten is not supported)"
                )
            bound = float(
                np.max(
                    np.maximum(
                        np.abs(affine.scale * lo + affine.offset), np.abs(affine.scale * hi + affine.offset)
                    )
                )
            )
            rec = layer.recurrent
            offset = affine.offset
            if rec is not None:
                if rec.weight.shape != (len(lo), len(lo)):
                    raise UnsupportedLayerError(
                        f"layer {rec.name!r}: recurrent weights of shape {rec.weight.shape} for a layer of "
                        f"{len(lo)} neurons"
                    )
                # its bias joins the input current at every step: the requantize's bias carries it
                offset = offset + (0.0 if rec.bias is None else np.asarray(rec.bias, dtype=np.float64))
                bound = float(
                    np.max(
                        np.maximum(np.abs(affine.scale * lo + offset), np.abs(affine.scale * hi + offset))
                        + recurrent_bound(replace(rec, bias=None))
                    )
                )
            dm, ds = quantize_decay(layer.beta, opts.decay_max_shift)
            decay = dm / (1 << ds)
            meta: dict = {}
            if layer.alpha is None:
                th_int, saturates = choose_threshold(bound / layer.threshold, decay, state, opts)
            else:  # alpha quantized exactly as beta is; the current is in membrane LSBs, as the requantize's output
                am, ash = quantize_decay(layer.alpha, opts.decay_max_shift)
                alpha = am / (1 << ash)
                th_int, saturates = synaptic_threshold(bound / layer.threshold, decay, alpha, state, opts)
                meta = {"alpha": layer.alpha, "alpha_quantized": alpha}
            s_m = layer.threshold / th_int
            ops.append(
                _requantizer(f"{layer.name}_current", affine.scale / s_m, offset / s_m, last.peak, opts)
            )
            if rec is not None:
                ops.append(_recurrent_op(layer.name, rec, s_m))
                meta["recurrent_bits"] = rec.bits
            if layer.alpha is not None:
                ops.append(Synaptic(synaptic_name(layer.name), am, ash, state))
            ops.append(LIF(layer.name, th_int, dm, ds, layer.reset, state))
            current_saturates = False
            if layer.alpha is not None:
                # the range analysis has the last word on the current and the membrane
                current_range, membrane_range = analyse_ops(spec, ops)[-2:]
                current_saturates = bool(current_range.note)
                saturates = current_saturates or bool(membrane_range.note)
            elif rec is not None:
                saturates = bool(analyse_ops(spec, ops)[-1].note)
            layer_meta[layer.name] = {
                "membrane_scale": s_m,
                "threshold": layer.threshold,
                "beta": layer.beta,
                "beta_quantized": decay,
                "current_bound": bound,
                **meta,
            }
            if saturates:
                leaky = decay < 1.0 and (layer.alpha is None or meta["alpha_quantized"] < 1.0)
                also = ""
                if current_saturates:
                    also = f" (its synaptic current {synaptic_name(layer.name)!r} can saturate too)"
                warnings.append(saturation_warning(layer.name, state, th_int, leaky=leaky) + also)
            affine = None
        else:
            raise UnsupportedLayerError(f"layer {getattr(layer, 'name', layer)!r} was not folded away")
    if affine is not None:
        raise UnsupportedLayerError(f"{affine.name!r}: the network must end with a LIF layer")
    return _narrow_types(spec, ops, fg.num_steps), layer_meta, warnings


def _channels(spec: InputSpec, ops: list[Op]) -> int:
    """Channels of the activation after ``ops``: the range analysis bounds each channel."""
    return len(analyse_ops(spec, ops)[-1].lo) if ops else spec.shape[0]


def _narrow_types(spec: InputSpec, ops: list[Op], num_steps: int) -> Graph:
    """Declare int32 accumulators and currents wherever the range analysis proves they fit."""
    ranges = analyse_ops(spec, ops)
    narrowed: list[Op] = []
    for op, rng in zip(ops, ranges, strict=True):
        values32 = INT32.min <= min(rng.lo) and max(rng.hi) <= INT32.max
        if op.declared_field == "acc_type":  # a sum: its partial sums must fit too
            op = replace(op, acc_type=INT32 if values32 and rng.peak <= INT32.max else INT64)
        elif op.declared_field == "out_type":  # a requantize: its peak is the product before the shift
            op = replace(op, out_type=INT32 if values32 else INT64)
        narrowed.append(op)
    return Graph(spec, tuple(narrowed), num_steps)
