"""The HLS target's registration table: every IR op kind it implements, and the template of
templates/hls/runtime/qsnn_hls.h that runs it. The shared rule ``op_supported`` refuses every other kind."""

from __future__ import annotations

from qsnn_deploy.targets.base import OpImpl

OPS: dict[str, OpImpl] = {
    "conv2d": OpImpl("conv_events"),
    "linear": OpImpl("linear_events"),
    "sumpool2d": OpImpl("summed in conv_events' accumulators; folded into the weights before a synapse"),
    "maxpool2d": OpImpl("maxpool, over the conv's full map", separate_pass=True),
    "requantize": OpImpl("requantize / requantize_all"),
    "recurrent": OpImpl("linear_events over the previous step's spikes, then recurrent_add"),
    "synaptic": OpImpl("synaptic_step (the current in ap_int state, saturated to the state type)"),
    "lif": OpImpl("lif_neuron / lif_layer"),
}
