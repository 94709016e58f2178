#!/usr/bin/env bash
# One command on a fresh machine: install, then run the offline end-to-end demo on the bundled MNIST model.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup.sh
qsnn-deploy demo --out out/demo
