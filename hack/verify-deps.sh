#!/usr/bin/env bash
# verify-deps.sh keeps the two binaries' import graphs apart: the operator
# (manager) must not link the VM runtime (QEMU/QMP, netlink plumbing, DHCP),
# and the launcher must not link the controllers or client-go. Both share the
# launcher pod's contract through internal/podcontract only.
set -euo pipefail
cd "$(dirname "$0")/.."

fail=0
check() { # check <package> <forbidden regexp> <why>
  local bad
  bad=$(go list -deps "$1" | grep -E "$2" || true)
  if [ -n "$bad" ]; then
    echo "verify-deps: $1 must not import ($3):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    fail=1
  fi
}
check . '^virtmesh\.io/virtmesh/internal/(launcher|netsetup|dhcp|dataplane|containerdisk|cloudinit)$' \
  "the operator renders the pod from internal/podcontract; the VM runtime belongs to cmd/virt-launcher"
check . '^(istio\.io/istio|github\.com/envoyproxy/go-control-plane|virtmesh\.io/virtmesh/internal/host(pod|istiod))(/|$)' \
  "Istio's code and the xDS types belong to test/istio; the host harness to hack/host-istiod and the tests"
check ./cmd/virt-launcher '^(virtmesh\.io/virtmesh/(controllers|api)/|sigs\.k8s\.io/controller-runtime|k8s\.io/client-go)' \
  "the launcher reads its VMI from a file and never talks to the API server"
exit $fail
