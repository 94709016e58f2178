"""Render the Verilog target into an output folder: the hand-written RTL library (templates/verilog/rtl/),
the generated top level and synthesis wrapper (templates/verilog/*.j2), the memory images ($readmemh .hex)
and the simulation testbenches (templates/verilog/tb/). One atomic write per file.

Only op names (checked identifiers) and ``safe_label`` text from the IR reach the files: the source is labelled
by ``source_label``, as every target labels it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qsnn_deploy.targets.base import CheckedModel, RuleInput
from qsnn_deploy.targets.files import template_environment, write_rendered
from qsnn_deploy.targets.names import Derived, fixed, from_patterns
from qsnn_deploy.targets.text import source_label
from qsnn_deploy.targets.verilog import serial
from qsnn_deploy.targets.verilog.layout import (
    LayerParams,
    addr_width,
    recurrent_mult_image,
    recurrent_weight_image,
    requant_image,
    weight_image,
)
from qsnn_deploy.targets.verilog.settings import params_for, serial_lanes, verilog_settings

RTL_FILES = ("qsnn_ram.v", "qsnn_mul.v", "qsnn_neuron.v", "qsnn_cneuron.v", "qsnn_layer.v", "qsnn_ctrl.v")
SERIAL_RTL_FILES = ("qsnn_ram.v", "qsnn_spram.v", "qsnn_sneuron.v", "qsnn_serial.v")
TB_FILES = ("tb_verilator.cpp", "tb_icarus.v")


# What the Verilog target derives from op names: the layer instances of the top level and the memory images
# (file names, compared without case). The shared rule unique_generated_names refuses two sources of one name.
VERILOG_NAMES = {"lif": ("u_{name}",)}
VERILOG_FILES = {
    "synapse": ("{p}_{name}_w.hex",),
    "requantize": ("{p}_{name}_rq.hex",),
    "recurrent": ("{p}_{name}_rw.hex", "{p}_{name}_rm.hex"),
}


@dataclass(frozen=True)
class TracePort:
    """One trace port of the generated top level, as the testbenches read it."""

    prefix: str  # of its signals: tr<i>_ (one per layer), or tr_ (arch=serial: one for every layer)
    layer: str  # the layer of a beat: a constant, or the signal that says it (without the prefix)
    lanes: int  # neurons per beat
    currents: bool  # it carries synaptic currents (tr..._currents)

    @property
    def fixed_layer(self) -> bool:
        return self.layer.isdigit()


def derived_names(inp: RuleInput) -> list[Derived]:
    p = inp.options.prefix
    return [
        *fixed((f"{p}_weights.hex", f"{p}_rq.hex"), "a memory image of arch=serial", file=True),
        *from_patterns(inp.layers, p, VERILOG_NAMES, "Verilog instance"),
        *from_patterns(inp.layers, p, VERILOG_FILES, "memory image", file=True),
    ]


def rtl_files(arch: str) -> tuple[str, ...]:
    """The hand-written RTL library of an organisation (``--option arch``)."""
    return SERIAL_RTL_FILES if arch == "serial" else RTL_FILES


def params_of(model: CheckedModel) -> list[LayerParams]:
    static = model.graph.input.encoding == "static"
    params, problems = params_for(
        model.layers, model.ranges, verilog_settings(model.options), static, model.options.prefix
    )
    assert not problems, problems  # the design rules ran before
    return params


def serial_design(model: CheckedModel, params: list[LayerParams]) -> serial.SerialDesign:
    """The serial organisation's layout of the model, from its layers' parameters (``params_of``)."""
    settings = verilog_settings(model.options)
    return serial.design(model.layers, params, serial_lanes(settings), settings.fold)


def context(model: CheckedModel) -> dict:
    graph, prefix = model.graph, model.options.prefix
    params = params_of(model)
    arch = verilog_settings(model.options).arch
    ctx = {
        "p": prefix,
        "source": source_label(graph.metadata),
        "static": graph.input.encoding == "static",
        "frame": int(np.prod(graph.input.shape)),
        "classes": params[-1].neurons,
        "class_w": addr_width(params[-1].neurons),
        "layer_w": addr_width(len(params)),
        "index_w": max(p.N_AW for p in params),
        "tr_nl": max(p.NLANES for p in params),
        "steps": graph.num_steps,
        "layers": params,
        "currents": any(p.SYN for p in params),  # the top level traces synaptic currents (tr_currents)
        # steps pipelined over the layers: every layer after the first can overlap its acc and neuron phases
        "pipeline": all(p.OVERLAP for p in params[1:]),
        # the trace ports the testbenches read: one per layer (prefix tr<i>_), or arch=serial's shared one
        "trace": [TracePort(f"tr{p.index}_", str(p.index), p.NLANES, bool(p.SYN)) for p in params],
        "arch": arch,
        "load_words": 0,
        "load_bytes": 0,
    }
    if arch == "serial":
        d = serial_design(model, params)
        ctx.update(
            design=d,
            e=d.params,
            widths=d.widths,
            rows=d.layers,
            tr_nl=1,
            trace=[TracePort("tr_", "tr_layer", 1, any(p.SYN for p in params))],
            load=d.load_units(),
            load_words=len(d.load_units()),
            load_bytes=d.load_bytes,
        )
    return ctx


def render_files(model: CheckedModel) -> dict[str, str]:
    """File name -> text of every generated file (not written yet)."""
    env = template_environment("verilog")
    ctx = context(model)
    p = ctx["p"]
    serial_arch = ctx["arch"] == "serial"
    files = {
        f"{p}_top.v": env.get_template("serial_top.v.j2" if serial_arch else "top.v.j2").render(ctx),
        f"{p}_synth.v": env.get_template("synth.v.j2").render(ctx),
        "tb_config.h": env.get_template("tb_config.h.j2").render(ctx),
        "tb_config.vh": env.get_template("tb_config.vh.j2").render(ctx),
    }
    if serial_arch:
        d = ctx["design"]
        files[f"{p}_weights.hex"] = serial.weight_hex(d)
        files[f"{p}_rq.hex"] = serial.rq_hex(d)
        return files
    for layer, params in zip(model.layers, ctx["layers"]):
        files[params.weight_file] = weight_image(layer, params)
        files[params.rq_file] = requant_image(layer, params)
        if params.REC:
            files[params.rec_weight_file] = recurrent_weight_image(layer, params)
            files[params.rec_mult_file] = recurrent_mult_image(layer, params)
    return files


def render(model: CheckedModel, out: Path) -> list[Path]:
    """Write the rendered files and copy the RTL library and the testbenches into ``out``; returns the paths
    written."""
    arch = verilog_settings(model.options).arch
    sources = [
        *(f"verilog/rtl/{name}" for name in rtl_files(arch)),
        *(f"verilog/tb/{name}" for name in TB_FILES),
    ]
    return write_rendered(Path(out), render_files(model), sources)


__all__ = [
    "RTL_FILES",
    "SERIAL_RTL_FILES",
    "TB_FILES",
    "context",
    "params_of",
    "render",
    "render_files",
    "rtl_files",
    "serial_design",
]
