#!/usr/bin/env bash
# build-bins.sh builds the pinned external binaries VirtMesh needs into bin/:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (hack/tools/kube, k8s.io/kubernetes)
#   etcd                                                              (hack/tools/etcd, go.etcd.io/etcd/server/v3)
#   kwok, kwokctl                                                     (hack/tools/kwok, sigs.k8s.io/kwok)
#   controller-gen, kustomize                                         (hack/tools/dev)
#   golangci-lint (with the kube-api-linter plugin)                   (hack/tools/lint)
#   pilot-discovery (istiod), pilot-agent                             (hack/tools/istio, istio.io/istio 1.31-dev)
# Each binary is rebuilt only when the go.mod/go.sum (or main.go) of the module that pins
# it changes (or its extra ldflags below): the hash is kept in bin/.stamps/<binary>.
# Usage: hack/build-bins.sh [binary...]   (default: the envtest set)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
stamps="$bin/.stamps"
mkdir -p "$stamps"

# module dir and package path for every binary we know how to build.
declare -A module=(
  [kube-apiserver]=kube [kube-controller-manager]=kube [kube-scheduler]=kube [kubectl]=kube
  [etcd]=etcd
  [kwok]=kwok [kwokctl]=kwok
  [controller-gen]=dev [kustomize]=dev
  [golangci-lint]=lint
  [pilot-discovery]=istio [pilot-agent]=istio
)
declare -A pkg=(
  [kube-apiserver]=k8s.io/kubernetes/cmd/kube-apiserver
  [kube-controller-manager]=k8s.io/kubernetes/cmd/kube-controller-manager
  [kube-scheduler]=k8s.io/kubernetes/cmd/kube-scheduler
  [kubectl]=k8s.io/kubernetes/cmd/kubectl
  [etcd]=.
  [kwok]=sigs.k8s.io/kwok/cmd/kwok
  [kwokctl]=sigs.k8s.io/kwok/cmd/kwokctl
  [controller-gen]=sigs.k8s.io/controller-tools/cmd/controller-gen
  [kustomize]=sigs.k8s.io/kustomize/kustomize/v5
  [golangci-lint]=.
  [pilot-discovery]=istio.io/istio/pilot/cmd/pilot-discovery
  [pilot-agent]=istio.io/istio/pilot/cmd/pilot-agent
)
# Extra -ldflags per module. Istio's binaries report the pinned version (its
# VERSION file says 1.31, its Makefile appends -dev on master) instead of
# "unknown", so istiod and the agents log and exchange a parsable version.
istio_commit=eed52ebb66ad
declare -A ldflags=(
  [istio]="-X istio.io/istio/pkg/version.buildVersion=1.31-dev -X istio.io/istio/pkg/version.buildGitRevision=$istio_commit -X istio.io/istio/pkg/version.buildStatus=Clean"
)

want=("$@")
[ ${#want[@]} -gt 0 ] || want=(kube-apiserver etcd kubectl)

for name in "${want[@]}"; do
  mod=${module[$name]:-}
  if [ -z "$mod" ]; then
    echo "build-bins: unknown binary '$name' (known: ${!module[*]})" >&2
    exit 2
  fi
  dir="$root/hack/tools/$mod"
  srcs=("$dir/go.mod" "$dir/go.sum")
  shopt -s nullglob
  srcs+=("$dir"/*.go)
  shopt -u nullglob
  extra=${ldflags[$mod]:-}
  stamp=$( (cat "${srcs[@]}"; [ -z "$extra" ] || echo "$extra") | sha256sum | cut -c1-16)
  if [ -x "$bin/$name" ] && [ "$(cat "$stamps/$name" 2>/dev/null)" = "$stamp" ]; then
    continue
  fi
  echo "build-bins: building $name (module hack/tools/$mod)" >&2
  start=$SECONDS
  # CGO off: static binaries; neither the k8s components nor Istio's need cgo.
  (cd "$dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags="-s -w $extra" -o "$bin/$name" "${pkg[$name]}")
  echo "$stamp" > "$stamps/$name"
  echo "build-bins: $name built in $((SECONDS - start))s" >&2
done
