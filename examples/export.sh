#!/usr/bin/env bash
# Freeze a trained checkpoint into the integer IR. CHECKPOINT (default: the bundled MNIST model) and MODEL
# (the .qsnn written) override the defaults. A paper state_dict needs --arch seed-mnist (pass it in EXTRA).
set -euo pipefail
qsnn-deploy export "${CHECKPOINT:-examples/mnist/model.pt}" --bits 4 --out "${MODEL:-out/model.qsnn}" ${EXTRA:-}
