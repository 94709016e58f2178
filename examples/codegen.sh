#!/usr/bin/env bash
# Generate C for microcontrollers from the IR, then compile it on the host and compare every spike with the
# simulator on LIMIT test images.
set -euo pipefail
qsnn-deploy codegen "${MODEL:-out/model.qsnn}" --target c --out "${OUT:-out/c}"
qsnn-deploy verify "${MODEL:-out/model.qsnn}" --dataset "${DATASET:-mnist}" --target c --limit "${LIMIT:-100}"
