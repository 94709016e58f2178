#!/usr/bin/env bash
# Build the Cortex-M4 firmware (firmware/cortex-m) around the generated C with LIMIT test images embedded, run
# it under QEMU (mps2-an386) and compare its spikes and every layer's state with the simulator (the cortex-m
# executor of the C target); then print flash, RAM and cost (REPORT_EXTRA=--baseline adds the slow
# dense-kernel comparison).
set -euo pipefail
qsnn-deploy verify "${MODEL:-out/model.qsnn}" --dataset "${DATASET:-mnist}" --target c --executor cortex-m \
  --limit "${LIMIT:-20}"
qsnn-deploy report "${MODEL:-out/model.qsnn}" --dataset "${DATASET:-mnist}" --limit "${REPORT_LIMIT:-2}" ${REPORT_EXTRA:-}
