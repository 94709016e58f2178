#!/usr/bin/env bash
# The test suite, as CI runs it. Real datasets come from $QSNN_DATA_DIR (default: ../shared/data beside the
# checkout). Extra arguments go to pytest, e.g. ./run-tests.sh -m slow for the long opt-in tests.
# Test files run on one worker per CPU (pytest-xdist), each file on one worker so that its module fixtures (a
# trained model, a built executable) are made once; QSNN_TEST_WORKERS=0 runs everything in this process.
# The workers share what they build (Verilator, HLS csim and gcc executables, and the precompiled headers of
# verilated.h and the ap_types) through one build cache for the
# run (qsnn_deploy/targets/build_cache.py): a fresh folder, removed at the end, unless QSNN_BUILD_CACHE is set
# (a folder to use, or empty for no cache).
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${QSNN_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export QSNN_DATA_DIR="$(cd ../shared/data && pwd)"
fi
if [ -z "${QSNN_BUILD_CACHE+set}" ]; then  # unset: a fresh cache for this run
  QSNN_BUILD_CACHE="$(mktemp -d "${TMPDIR:-/tmp}/qsnn-build-cache-XXXXXX")"
  export QSNN_BUILD_CACHE
  trap 'rm -rf "$QSNN_BUILD_CACHE"' EXIT
fi
# One worker per core already keeps the cores busy: each worker's math libraries (torch's OpenMP pool, NumPy's
# BLAS) get one thread, so that they do not spin against each other's workers (it cost CPU time, not wall
# time saved). A value set by the caller is kept; QSNN_TEST_WORKERS=0 keeps the libraries' defaults.
if [ "${QSNN_TEST_WORKERS:-auto}" != "0" ]; then
  for var in OMP_NUM_THREADS MKL_NUM_THREADS OPENBLAS_NUM_THREADS; do
    export "$var=${!var:-1}"
  done
fi
# Bytecode: this machine sets PYTHONDONTWRITEBYTECODE, so every worker and every CLI subprocess a test starts
# compiled the package and rewrote the tests' asserts from source (half of a worker's 14.6 s collection). The
# run writes __pycache__ (ignored by git) so that each module compiles once per checkout.
unset PYTHONDONTWRITEBYTECODE
status=0
# --no-loadscope-reorder: the files go out in the order tests/conftest.py gives them (the longest first)
"${PYTHON:-python3}" -m pytest -n "${QSNN_TEST_WORKERS:-auto}" --dist loadfile --no-loadscope-reorder "$@" \
  || status=$?
exit "$status"
