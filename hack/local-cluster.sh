#!/usr/bin/env bash
# local-cluster.sh runs VirtMesh on a local Kubernetes cluster. It is a thin
# wrapper: the cluster is the Go program hack/localcluster (built into
# .local/bin/, cached), which runs in one of two modes:
#
#   real node  containerd (runc), the kubelet, kube-proxy and CoreDNS on this
#              host, the operator deployed in-cluster from config/default:
#              launcher pods run and VMs boot. The default as root on Linux.
#   kwok       nodes simulated by kwok (kwokctl): pods are marked Running,
#              nothing runs, no VM boots. The default otherwise, and what
#              hack/scale-run.sh uses (VIRTMESH_NODES=<number>).
#
# Every change to the host is recorded in a teardown journal in the work
# directory before it is made; `down` replays it, also after a crash.
# See docs/local-cluster.md.
#
# Usage: hack/local-cluster.sh <command> [flags]
#   up [--no-samples]   build, create the cluster (or reuse it), install the
#                       operator, apply the samples and show them working
#   down                undo everything up did and remove the work directory
#   status              show the mode, the components and the samples
#   operator-start      (re)start only the operator
#   operator-stop       stop only the operator
#   istiod-start        (kwok) (re)start only istiod on the host (bin/host-istiod)
#   istiod-stop         (kwok) stop only istiod on the host
#   env                 print the export line for kubectl
#
# Environment:
#   VIRTMESH_NODES            "" (real node as root on Linux, else kwok), real,
#                             kwok, or a number of kwok nodes (kwok mode)
#   VIRTMESH_LOCAL_DIR        work directory (default: <repo>/.local/cluster)
#   VIRTMESH_CLUSTER_NAME     cluster name (default: virtmesh)
#   VIRTMESH_SKIP_BUILD=1     use bin/ as is (no packages, builds or images)
#   VIRTMESH_WAIT_TIMEOUT     kubectl wait timeout for the samples (default: 300s)
#   kwok mode's operator, a host process (bin/manager):
#   VIRTMESH_LEADER_ELECT=1   run it with --leader-elect
#   VIRTMESH_OPERATOR_AS      "serviceaccount" (default: exactly config/rbac's
#                             permissions) or "admin"
#   VIRTMESH_MANAGER_BIN      operator binary (default: bin/manager)
#   VIRTMESH_MANAGER_ARGS     extra operator flags, e.g. --zap-log-level=debug
#   VIRTMESH_MANAGER_ID       run another operator replica next to the first:
#                             operator-start/-stop then use manager-<id>.pid and
#                             manager-<id>.log (with VIRTMESH_LEADER_ELECT=1)
#   VIRTMESH_KWOK_LOG_LEVEL   kwokctl's log level (default: WARN)
#   VIRTMESH_HOST_ISTIOD=0    do not run the real istiod on the host (kwok mode;
#                             mcp/basic then never gets Ready: nothing creates
#                             istiod's CA)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
prog="$root/.local/bin/localcluster"
mkdir -p "$root/.local/bin"
# One build at a time (the e2e suites may start clusters in parallel); go
# build skips the link when the binary is up to date.
(
  flock 9
  cd "$root"
  if ! out=$(go build -o "$prog" ./hack/localcluster 2>&1); then
    echo "$out" >&2
    echo "[local-cluster] ERROR: go build ./hack/localcluster failed" >&2
    exit 1
  fi
) 9>"$root/.local/bin/.build.lock"
export VIRTMESH_REPO="$root"
exec "$prog" "$@"
