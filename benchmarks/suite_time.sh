#!/usr/bin/env bash
# Wall time of the README's test command at one or more commits, one after the other on this machine (issue 24:
# "before and after timings, measured side by side"). Each commit is checked out in a temporary git worktree and
# runs its own ./run-tests.sh, with PYTHONPATH pointing at that tree so that the CLI subprocesses the tests start
# import that tree's package too (the editable install points at this checkout). Run it on an idle machine.
#
#   benchmarks/suite_time.sh BEFORE [AFTER ...]      (default: HEAD alone)
#
# Prints one line per commit: seconds, exit status and pytest's summary line; each run's whole output stays in
# $SUITE_TIME_LOGS (default: a folder under /tmp, named at the start). The data comes from $QSNN_DATA_DIR
# (default: ../shared/data); every toolchain must be installed (QSNN_REQUIRE_TOOLCHAINS=1 makes a missing one
# fail). A commit before the suite ran in parallel (9eaa403) runs in one process: about 18 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
revs=("${@:-HEAD}")
export QSNN_DATA_DIR="${QSNN_DATA_DIR:-$(cd ../shared/data && pwd)}"
export QSNN_REQUIRE_DATA=1 QSNN_REQUIRE_TOOLCHAINS=1
logs=${SUITE_TIME_LOGS:-$(mktemp -d /tmp/suite-time-XXXXXX)}
mkdir -p "$logs"
echo "logs: $logs"
work=$(mktemp -d)
cleanup() {
  for tree in "$work"/*/; do git worktree remove --force "$tree" 2>/dev/null || true; done
  git worktree prune
  rm -rf "$work"
}
trap cleanup EXIT
for rev in "${revs[@]}"; do
  short=$(git rev-parse --short "$rev")
  tree="$work/$short"
  git worktree add --detach -q "$tree" "$rev"
  start=$(date +%s)
  status=0
  # no extra -q: pyproject's addopts already has one, and -qq drops pytest's summary line
  (cd "$tree" && PYTHONPATH="$tree" ./run-tests.sh -p no:cacheprovider >"$logs/$short.log" 2>&1) || status=$?
  seconds=$(($(date +%s) - start))
  summary=$(grep -E "(passed|failed|error)" "$logs/$short.log" | tail -1 || true)
  echo "$rev ($short): ${seconds} s, exit ${status}: ${summary:-no pytest summary, see $logs/$short.log}"
done
