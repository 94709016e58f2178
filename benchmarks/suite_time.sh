#!/usr/bin/env bash
# Wall time of the README's test command at two commits, side by side on this machine (issue 24: "before and
# after timings, measured side by side"). Each commit is checked out in a temporary git worktree and runs its
# own ./run-tests.sh, with PYTHONPATH pointing at that tree so that the CLI subprocesses the tests start import
# that tree's package too (the editable install points at this checkout). Run it on an idle machine.
#
#   benchmarks/suite_time.sh BEFORE [AFTER]      (AFTER defaults to HEAD)
#
# Prints one line per commit: seconds, and pytest's summary line. The data comes from $QSNN_DATA_DIR (default:
# ../shared/data); every toolchain must be installed (QSNN_REQUIRE_TOOLCHAINS=1 makes a missing one fail).
set -euo pipefail
cd "$(dirname "$0")/.."
before=${1:?usage: benchmarks/suite_time.sh BEFORE [AFTER]}
after=${2:-HEAD}
export QSNN_DATA_DIR="${QSNN_DATA_DIR:-$(cd ../shared/data && pwd)}"
export QSNN_REQUIRE_DATA=1 QSNN_REQUIRE_TOOLCHAINS=1
work=$(mktemp -d)
cleanup() {
  for tree in "$work"/*/; do git worktree remove --force "$tree" 2>/dev/null || true; done
  git worktree prune
  rm -rf "$work"
}
trap cleanup EXIT
for rev in "$before" "$after"; do
  tree="$work/$(git rev-parse --short "$rev")"
  git worktree add --detach -q "$tree" "$rev"
  start=$(date +%s)
  status=0
  (cd "$tree" && PYTHONPATH="$tree" ./run-tests.sh -q -p no:cacheprovider >"$tree.log" 2>&1) || status=$?
  seconds=$(($(date +%s) - start))
  summary=$(grep -E "passed|failed" "$tree.log" | tail -1)
  echo "$rev ($(git rev-parse --short "$rev")): ${seconds} s, exit ${status}: ${summary}"
done
