#!/usr/bin/env bash
# Install everything qsnn-deploy and its tests need on a fresh Debian/Ubuntu machine: toolchains from apt,
# PyTorch pinned to 2.13.0 (installed first: a loose range can pull a multi-GB CUDA build), then the package.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(gcc g++ clang make gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm valgrind
  verilator iverilog)
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if ! $PY -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
  $PY -m pip install -q torch==2.13.0
fi
$PY -m pip install -q -e ".[torch,onnx,nir,hls,fpga,dev,fast]"
# A second NIR-writing library for the import tests (it installs beside torch 2.13 without replacing it).
$PY -m pip install -q "rockpool==3.1.0" "nirtorch==2.6"
echo "setup: done ($($PY -c 'import qsnn_deploy; print("qsnn-deploy", qsnn_deploy.__version__)'))"
