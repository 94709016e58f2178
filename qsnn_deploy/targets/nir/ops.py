"""The NIR target's registration table: every IR op kind it writes, and the NIR node it becomes
(interop/nir_export.py, docs/targets/nir.md). The shared rule ``op_supported`` refuses every other kind: NIR
1.0.8 has no max-pool node."""

from __future__ import annotations

from qsnn_deploy.targets.base import OpImpl

OPS: dict[str, OpImpl] = {
    "conv2d": OpImpl("Conv2d (weight and bias times the requantize's scale)"),
    "linear": OpImpl("Flatten (on a map) + Affine"),
    "sumpool2d": OpImpl("SumPool2d"),
    "requantize": OpImpl("the scale and bias of the synapse's node"),
    "lif": OpImpl("LIF, or IF where the decay is 1"),
    "synaptic": OpImpl("CubaLIF (tau_syn from the synaptic decay)"),
    "recurrent": OpImpl("Linear from the neuron's output back into its input (the Braille layout)"),
}
