#!/usr/bin/env bash
# scale-run.sh runs the scale benchmark (test/bench/scale) on a fresh local
# kwok cluster: N plain Pods against N VMIs created the same way (unpaced),
# N mesh-enrolled VMIs, and N Pods and N VMIs created at 10/s, every time
# taken from watch events by the Go driver. See docs/performance.md.
#
# Usage: hack/scale-run.sh [N] [driver flags]   (default N=100)
#   e.g. hack/scale-run.sh 1000
#        hack/scale-run.sh 100 -phases pods,vmis -manager-args=--vmi-workers=1
# Results: test/bench/results/<date>-<commit>-n<N>.{json,md}; compare two with
#   go run ./test/bench/scale --compare a.json b.json
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100}
shift || true
exec go run ./test/bench/scale -n "$n" "$@"
