#!/usr/bin/env bash
# Train a 4-bit MNIST QSNN with the paper's recipe (Adam, cosine LR stepped per iteration, mse_count_loss).
# EPOCHS, NUM_STEPS, OUT and EXTRA (e.g. "--train-limit 512 --test-limit 256") override the defaults.
set -euo pipefail
qsnn-deploy train --dataset mnist --bits 4 --epochs "${EPOCHS:-4}" --num-steps "${NUM_STEPS:-25}" \
  --out "${OUT:-runs/mnist}" ${EXTRA:-}
