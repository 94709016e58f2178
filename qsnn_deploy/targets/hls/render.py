"""Render the HLS target from templates/hls/*.j2 into an output folder, one atomic write per file.

Only called with a ``CheckedModel`` (the design rules passed). The templates lay out data (layer
configurations, ROMs) and the call sequence of the top function; every computation lives in the hand-written
kernel header templates/hls/runtime/qsnn_hls.h. No string from the IR reaches the files except op names
(checked identifiers) and ``safe_label`` text; the part and the clock passed the ``hls_settings`` rule.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from qsnn_deploy.ir.plan import Layer
from qsnn_deploy.targets.base import CheckedModel, RuleInput
from qsnn_deploy.targets.files import template_environment, write_rendered
from qsnn_deploy.targets.hls.layout import (
    acc_peak,
    current_ops,
    is_packed,
    layer_widths,
    max_pooled,
    recurrent_rom,
    recurrent_widths,
    rom_rows,
    row_bytes,
    saturates,
    synaptic_saturates,
    synaptic_widths,
    taps,
)
from qsnn_deploy.targets.hls.settings import hls_settings
from qsnn_deploy.targets.names import Derived, from_patterns
from qsnn_deploy.targets.text import source_label

RUNTIME_FILES = ("qsnn_hls.h",)
TCL_SCRIPT = "run_hls.tcl"


# Every name templates/hls/*.j2 and this module derive from an op name (by role): in the model's namespace
# (ROMs, configurations) and the top function (buffers). The shared rule unique_generated_names refuses two sources
# of one name; test_name_collisions.py checks that the list is complete.
HLS_NAMES = {
    "synapse": ("{name}_w",),
    "pool": ("{name}_sign",),
    "requantize": ("{name}_mult", "{name}_bias"),
    "recurrent": ("{name}_cfg", "{name}_w", "{name}_mult", "racc_{name}"),
    "synaptic": ("{name}_cfg", "syn_{name}"),
    "lif": ("{name}_cfg", "{name}_cfg_conv", "acc_{name}", "conv_{name}", "cur_{name}", "ev_{name}",
            "count_{name}", "mem_{name}", "spk_{name}", "in_{name}"),
}  # fmt: skip


def derived_names(inp: RuleInput) -> list[Derived]:
    return from_patterns(inp.layers, inp.options.prefix, HLS_NAMES, "HLS name")


def cxx_int(value: int, bits: int = 64) -> str:
    """A C++ literal of a signed ``bits``-wide value (``LL`` for 64 bits); the minimum is spelled (-MAX - 1)
    because a literal like ``9223372036854775808`` does not fit before the unary minus applies."""
    value = int(value)
    suffix = "LL" if bits == 64 else ""
    if value == -(1 << (bits - 1)):
        return f"({value + 1}{suffix} - 1)"
    return f"{value}{suffix}"


def geometry(layer: Layer) -> dict[str, int]:
    """The kernel's template constants (qsnn_hls.h): a linear layer is a 1x1 'conv' over F inputs."""
    w = layer.op.weight
    if layer.kind == "conv":
        c, h, wd = layer.in_shape
        return {
            "C": c, "H": h, "W": wd, "O": int(w.shape[0]), "KH": int(w.shape[2]), "KW": int(w.shape[3]),
            "STRIDE": layer.op.stride, "PAD": layer.op.padding, "POOL": layer.pool_kernel,
            "OH": layer.out_shape[1], "OW": layer.out_shape[2], "P": layer.per_channel,
        }  # fmt: skip
    f = int(np.prod(layer.in_shape))
    return {"C": f, "H": 1, "W": 1, "O": int(w.shape[0]), "KH": 1, "KW": 1, "STRIDE": 1, "PAD": 0, "POOL": 1,
            "OH": 1, "OW": 1, "P": 1}  # fmt: skip


def _half(shift: int) -> str:
    """The rounding constant ``2^(shift-1)`` of a right shift (0 for none), as a C++ literal."""
    return cxx_int(1 << (shift - 1) if shift > 0 else 0)


def _recurrent_context(model: CheckedModel, layer: Layer) -> dict | None:
    """The recurrent op's configuration (<rec>_cfg), ROM and multipliers; None without one."""
    op = layer.recurrent
    if op is None:
        return None
    rom = recurrent_rom(op)
    return {
        "op": op,
        "cfg": f"{model.options.prefix}_model::{op.name}_cfg",
        "packed": op.weight_type.bits <= 4,
        "row_bytes": rom.shape[1],
        "rom": [", ".join(f"0x{b:02x}" for b in row) for row in rom.tolist()],
        "mults": [cxx_int(v, 32) for v in op.multiplier.tolist()],
        "widths": recurrent_widths(layer, model.ranges),
        "lo": min(model.ranges[op.name].lo),
        "hi": max(model.ranges[op.name].hi),
        "round": _half(op.shift),
    }


def _synaptic_context(model: CheckedModel, layer: Layer) -> dict | None:
    """The synaptic current's configuration (<syn>_cfg); None without one."""
    op = layer.current
    if op is None:
        return None
    st = op.state_type
    return {
        "op": op,
        "cfg": f"{model.options.prefix}_model::{op.name}_cfg",
        "widths": synaptic_widths(layer, model.ranges),
        "lo": min(model.ranges[op.name].lo),
        "hi": max(model.ranges[op.name].hi),
        "decay_half": _half(op.decay_shift),
        "saturate": synaptic_saturates(layer, model.ranges),
        "state_min": cxx_int(st.min),
        "state_max": cxx_int(st.max),
    }


def _layer_context(model: CheckedModel, layer: Layer) -> dict:
    ranges, prefix = model.ranges, model.options.prefix
    widths = layer_widths(layer, ranges)
    lif = ranges[layer.lif.name]
    feeds = [ranges[op.name] for op in (layer.rq, *current_ops(layer))]  # what cur_t holds, step by step
    st = layer.lif.state_type
    shift, dshift = layer.rq.shift, layer.lif.decay_shift
    maxpool = max_pooled(layer)
    conv_cfg = (
        f"{prefix}_model::{layer.lif.name}_cfg_conv" if maxpool else f"{prefix}_model::{layer.lif.name}_cfg"
    )
    return {
        "maxpool": maxpool,
        "signs": [str(int(v)) for v in layer.pool.sign.tolist()] if maxpool else [],
        "conv_h": layer.conv_shape[1] if maxpool else 0,
        "conv_w": layer.conv_shape[2] if maxpool else 0,
        # The synapse kernel's configuration and output: the layer's own, or before a max pool the conv's full map.
        "syn_cfg": conv_cfg,
        "syn_acc": f"conv_{layer.lif.name}" if maxpool else f"acc_{layer.lif.name}",
        "index": layer.index,
        "kind": layer.kind,
        "op": layer.op,
        "pool": layer.pool,
        "in_pool": layer.in_pool,
        "rq": layer.rq,
        "lif": layer.lif,
        "cfg": f"{prefix}_model::{layer.lif.name}_cfg",
        "neurons": layer.neurons,
        "geom": geometry(layer),
        "taps": taps(layer),
        "row_bytes": row_bytes(layer),
        "packed": is_packed(layer),
        "rom": [", ".join(f"0x{b:02x}" for b in row) for row in rom_rows(layer).tolist()],
        "mults": [cxx_int(v, 32) for v in layer.rq.multiplier.tolist()],
        "biases": [cxx_int(v, 64) for v in layer.rq.bias.tolist()],
        "widths": widths,
        "acc_peak": acc_peak(layer, ranges),
        "cur_lo": min(min(r.lo) for r in feeds),
        "cur_hi": max(max(r.hi) for r in feeds),
        "mem_lo": min(lif.lo),
        "mem_hi": max(lif.hi),
        "round": cxx_int(1 << (shift - 1) if shift > 0 else 0),
        "decay_half": cxx_int(1 << (dshift - 1) if dshift > 0 else 0),
        "saturate": saturates(layer, ranges),
        "state_min": cxx_int(st.min),
        "state_max": cxx_int(st.max),
        # IR version 3: the ops between the requantize and the LIF, and the per-step array they fill
        "current_ops": bool(current_ops(layer)),
        "recurrent": _recurrent_context(model, layer),
        "synaptic": _synaptic_context(model, layer),
    }


def render_files(model: CheckedModel) -> dict[str, str]:
    """File name -> text of every generated file (not written yet)."""
    graph, prefix = model.graph, model.options.prefix
    env = template_environment("hls")
    settings = hls_settings(model.options)
    mhz = settings.clock_mhz
    ctx = {
        "p": prefix,
        "P": prefix.upper(),
        "graph": graph,
        "source": source_label(graph.metadata),
        "static": graph.input.encoding == "static",
        "layers": [_layer_context(model, layer) for layer in model.layers],
        "records_currents": any(layer.current is not None for layer in model.layers),
        "input_size": int(np.prod(graph.input.shape)),
        "input_shape": tuple(graph.input.shape),
        "num_classes": model.layers[-1].neurons,
        "part": settings.part,
        "clock_mhz": f"{mhz:g}",
        "period_ns": f"{1000.0 / mhz:.4g}",
    }
    return {
        f"{prefix}_data.h": env.get_template("data.h.j2").render(ctx),
        f"{prefix}_top.h": env.get_template("top.h.j2").render(ctx),
        f"{prefix}_top.cpp": env.get_template("top.cpp.j2").render(ctx),
        f"{prefix}_tb.cpp": env.get_template("tb.cpp.j2").render(ctx),
        TCL_SCRIPT: env.get_template("run_hls.tcl.j2").render(ctx),
    }


def render(model: CheckedModel, out: Path) -> list[Path]:
    """Write the rendered files and copy the kernel header into ``out``; returns the paths written."""
    return write_rendered(out, render_files(model), [f"hls/runtime/{name}" for name in RUNTIME_FILES])


__all__ = ["render", "render_files"]
