#!/usr/bin/env bash
# verify-clean.sh fails when regenerating left the tree different from what is
# committed: a modified tracked file or a new untracked generated file means a
# generated file was stale. Run after the generators (make verify does).
set -euo pipefail
cd "$(dirname "$0")/.."
paths=(api config bundle bundle.Dockerfile)
dirty=$(git status --porcelain -- "${paths[@]}" 2>/dev/null || true)
if [ -n "$dirty" ]; then
  echo "verify: generated files are stale; run 'make generate manifests bundle' and commit:" >&2
  echo "$dirty" >&2
  git --no-pager diff --stat -- "${paths[@]}" >&2 || true
  exit 1
fi
echo "verify: generated files are up to date"
