#!/usr/bin/env bash
# Simulate the integer model on the MNIST test set beside the float model it came from; prints accuracy,
# agreement, firing rates, synaptic operations and a verdict. LIMIT=10000 runs the full test set.
set -euo pipefail
qsnn-deploy simulate --model "${MODEL:-out/model.qsnn}" --dataset "${DATASET:-mnist}" --limit "${LIMIT:-1000}" \
  --json "${JSON:-out/simulate.json}"
