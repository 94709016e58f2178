#!/usr/bin/env bash
# The test suite, as CI runs it. Real datasets come from $QSNN_DATA_DIR (default: ../shared/data beside the
# checkout). Extra arguments go to pytest, e.g. ./run-tests.sh -m slow for the long opt-in tests.
# Test files run on one worker per CPU (pytest-xdist), each file on one worker so that its module fixtures (a
# trained model, a built executable) are made once; QSNN_TEST_WORKERS=0 runs everything in this process.
set -euo pipefail
cd "$(dirname "$0")"
if [ -z "${QSNN_DATA_DIR:-}" ] && [ -d ../shared/data ]; then
  export QSNN_DATA_DIR="$(cd ../shared/data && pwd)"
fi
exec "${PYTHON:-python3}" -m pytest -n "${QSNN_TEST_WORKERS:-auto}" --dist loadfile "$@"
