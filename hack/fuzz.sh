#!/usr/bin/env bash
# fuzz.sh runs every go test fuzz target in the repository (func FuzzXxx in
# a _test.go file) for FUZZTIME each, one after another: go test fuzzes one
# target per invocation. Crashers are written to the package's
# testdata/fuzz/FuzzXxx/ (commit them as regression seeds with the fix);
# plain `go test` runs every committed corpus entry as a regular test.
#
#   hack/fuzz.sh [target-regexp]     e.g. hack/fuzz.sh 'DHCP'
#
# FUZZTIME (default 60s), FUZZMINIMIZETIME (2s: the default 60s minimization
# of every new input can stall a short run) and FUZZPARALLEL (1: the
# machine's cores are shared) tune it. It runs every target even after a
# failure and exits non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."

fuzztime=${FUZZTIME:-60s}
minimize=${FUZZMINIMIZETIME:-2s}
parallel=${FUZZPARALLEL:-1}
filter=${1:-.}

failed=()
n=0
while IFS=: read -r file fn; do
  target=${fn#func }
  target=${target%%(*}
  [[ $target =~ $filter ]] || continue
  pkg=./$(dirname "$file")
  n=$((n + 1))
  echo "=== fuzz $target ($pkg) for $fuzztime"
  if ! go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" \
      -parallel "$parallel" "$pkg" 2>&1 | grep -v '^fuzz: elapsed: .*, gathering baseline' | tail -n 20; then
    failed+=("$target")
  fi
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' internal cmd controllers 2>/dev/null | sort)

if [ "$n" -eq 0 ]; then
  echo "fuzz: no target matches $filter" >&2
  exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: $n targets passed ($fuzztime each)"
