"""Design rules of the HLS target (the shared ones are in targets/rules.py), run before any file is written;
its settings (part, clock_mhz, cxx) are read and checked before them (settings.py, rule ``hls_settings``)."""

from __future__ import annotations

from qsnn_deploy.targets.base import RuleInput, rule
from qsnn_deploy.targets.rules import input_is_uint8, requant_product_fits_int64

MAX_STEPS = 65535  # the top's num_steps port and the spike counters are ap_uint<16>
MAX_LANES = 1024  # ap_int's default AP_INT_MAX_W: the output beat is ap_uint<classes>


@rule("steps_fit_counters")
def steps_fit_counters(inp: RuleInput) -> list[str]:
    steps = inp.graph.num_steps
    if steps > MAX_STEPS:
        return [
            f"{steps} steps per inference; the HLS top counts steps and spikes in 16 bits (at most {MAX_STEPS})"
        ]
    return []


@rule("lanes_fit_ap_int")
def lanes_fit_ap_int(inp: RuleInput) -> list[str]:
    """The output beat carries one bit per class and a ROM row one weight per output channel; both are
    ap_uint words or completely partitioned arrays, at most 1024 wide."""
    return [
        f"{layer.op.name!r} has {layer.channels} output channels; the HLS kernels handle at most {MAX_LANES} "
        "in parallel (split the layer)"
        for layer in inp.layers
        if layer.channels > MAX_LANES
    ]


RULES = (input_is_uint8, requant_product_fits_int64, steps_fit_counters, lanes_fit_ap_int)
