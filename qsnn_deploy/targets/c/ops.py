"""The C target's registration table: every IR op kind it implements, and the runtime routine that runs it
(templates/c/runtime/qsnn_runtime.c). The shared rule ``op_supported`` refuses every other kind."""

from __future__ import annotations

from qsnn_deploy.targets.base import OpImpl

OPS: dict[str, OpImpl] = {
    "conv2d": OpImpl("qsnn_conv_dense_u8 / qsnn_conv_events (qsnn_conv_spikes_lif when fused)"),
    "linear": OpImpl("qsnn_linear_dense_u8 / qsnn_linear_events"),
    "sumpool2d": OpImpl(
        "summed in the conv's accumulators (qsnn_conv_t.pool); folded into the weights before a synapse"
    ),
    "maxpool2d": OpImpl("qsnn_maxpool, over the conv's full map", separate_pass=True),
    "requantize": OpImpl("qsnn_requant (in qsnn_lif_* when fused)"),
    "recurrent": OpImpl("qsnn_recurrent_add (event-driven over the previous step's spikes)"),
    "synaptic": OpImpl("qsnn_synaptic_step (int32 state, saturated to the state type)"),
    "lif": OpImpl("qsnn_lif_step16 / qsnn_lif_step32 / qsnn_lif_fast"),
}
