#!/usr/bin/env bash
# Simulate the integer model on the MNIST test set beside the float model it came from; prints accuracy,
# agreement, firing rates, synaptic operations and a verdict. LIMIT=10000 runs the full test set. The float
# checkpoint is named here (CHECKPOINT): simulate never opens the path an IR records on its own.
set -euo pipefail
qsnn-deploy simulate --model "${MODEL:-out/model.qsnn}" --dataset "${DATASET:-mnist}" --limit "${LIMIT:-1000}" \
  --checkpoint "${CHECKPOINT:-out/model.pt}" --json "${JSON:-out/simulate.json}"
