#!/usr/bin/env bash
# verify-tidy.sh fails when a module's go.mod/go.sum is not what `go mod tidy`
# would write (the project's module, each pinned tool module and the Istio
# suite's module).
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
for dir in . hack/tools/*/ test/istio/; do
  if ! out=$(cd "$dir" && go mod tidy -diff 2>&1); then
    echo "verify-tidy: $dir is not tidy; run (cd $dir && go mod tidy):" >&2
    echo "$out" | head -40 >&2
    fail=1
  fi
done
[ $fail = 0 ] && echo "verify: go.mod/go.sum are tidy"
exit $fail
