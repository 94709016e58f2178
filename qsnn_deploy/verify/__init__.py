"""The verifier's toolkit, below the targets: what every executor uses and nothing that knows a target.

- record.py: the record an executor returns (per step: output spikes, and every LIF layer's spikes and
  membranes, or CRC-32 digests of them) and the same record of a simulation;
- compare.py: the comparison of two records that names the first differing sample, step, layer and neuron;
- vectors.py: test vectors (a C header, or raw frames) written for a harness;
- harness.py: readers of what a harness prints; tools.py: running a build tool or a binary with a timeout.

The driver that renders, builds and runs a target and compares its record with the simulator's is
``qsnn_deploy/targets/verifier.py`` (``verify``, ``verify_c``, ``verify_cortex_m``); docs/architecture.md.
"""
