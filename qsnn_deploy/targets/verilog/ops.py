"""The Verilog target's registration table: every IR op kind it implements, and the RTL module
(templates/verilog/rtl/) that runs it. The shared rule ``op_supported`` refuses every other kind; what one
organisation (``arch``) cannot take is refused by that organisation's own rule (rules.py)."""

from __future__ import annotations

from qsnn_deploy.targets.base import OpImpl

OPS: dict[str, OpImpl] = {
    "conv2d": OpImpl("qsnn_layer (layered) / qsnn_serial (serial): the tap walk"),
    "linear": OpImpl("qsnn_layer / qsnn_serial: one tap per input"),
    "sumpool2d": OpImpl("qsnn_layer / qsnn_serial: summed into the accumulators as the taps are walked"),
    "maxpool2d": OpImpl("qsnn_layer's compare-and-keep accumulators (layered only)", separate_pass=True),
    "requantize": OpImpl("qsnn_neuron / qsnn_sneuron: the multiply-add-shift before the update"),
    "lif": OpImpl("qsnn_neuron / qsnn_sneuron"),
    "recurrent": OpImpl(
        "qsnn_layer (layered only): the last step's spikes as events into the recurrent sums, then qsnn_cneuron"
    ),
    "synaptic": OpImpl("qsnn_layer's current memory and qsnn_cneuron (layered only)"),
}
