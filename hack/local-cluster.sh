#!/usr/bin/env bash
# local-cluster.sh runs VirtMesh on a local Kubernetes control plane built from
# real components (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) with simulated nodes from kwok. Nothing is downloaded: every
# binary is built from the pinned modules by hack/build-bins.sh into bin/.
#
# kwok plays the kubelet: it schedules nothing itself, starts no containers and
# runs no VMs. It only marks pods bound to its fake nodes Running and Ready and
# gives them an IP. So a launcher pod being Running here means "the operator
# rendered it and Kubernetes accepted and scheduled it", not "QEMU booted".
# Node leases and node status heartbeats run 5x slower than a kubelet's
# (kwokctl --heartbeat-factor 5), so an idle cluster keeps a small machine quiet.
#
# istiod is real: bin/host-istiod runs Istio's pilot-discovery (built from the
# pinned istio.io/istio) on this host for the istiod pod of the MeshControlPlane
# in istio-system, with the pod's rendered args, env and ServiceAccount token,
# and writes its readiness (GET /ready) into the pod's status, so mcp/basic is
# Ready only when that istiod is (docs/istio.md).
#
# Usage: hack/local-cluster.sh <command> [flags]
#   up [--no-samples]   build, create the cluster (or reuse it), install CRDs and
#                       RBAC, start the operator, apply and wait for the samples
#   down                stop the operator, delete the cluster and its files
#   status              show the cluster, the operator and the samples
#   operator-start      (re)start only the operator (bin/manager) in the background
#   operator-stop       stop only the operator
#   istiod-start        (re)start only istiod on the host (bin/host-istiod)
#   istiod-stop         stop only istiod on the host
#   env                 print the export lines for kubectl
#
# Environment:
#   VIRTMESH_LOCAL_DIR        state directory (default: <repo>/.local/cluster)
#   VIRTMESH_CLUSTER_NAME     kwok cluster name (default: virtmesh)
#   VIRTMESH_NODES            number of fake nodes (default: 2)
#   VIRTMESH_SKIP_BUILD=1     use bin/ as is (no hack/build-bins.sh, no go build)
#   VIRTMESH_LEADER_ELECT=1   run the operator with --leader-elect
#   VIRTMESH_OPERATOR_AS      "serviceaccount" (default: the operator gets exactly
#                             config/rbac's permissions) or "admin"
#   VIRTMESH_MANAGER_BIN      operator binary (default: bin/manager)
#   VIRTMESH_MANAGER_ARGS     extra operator flags, e.g. --zap-log-level=debug
#   VIRTMESH_MANAGER_ID       run another operator replica next to the first:
#                             operator-start/-stop then use manager-<id>.pid and
#                             manager-<id>.log (with VIRTMESH_LEADER_ELECT=1)
#   VIRTMESH_WAIT_TIMEOUT     kubectl wait timeout for the samples (default: 180s)
#   VIRTMESH_HOST_ISTIOD=0    do not run istiod on the host (mcp/basic then never
#                             gets Ready: nothing creates istiod's CA)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
state=${VIRTMESH_LOCAL_DIR:-$root/.local/cluster}
name=${VIRTMESH_CLUSTER_NAME:-virtmesh}
nodes=${VIRTMESH_NODES:-2}
wait_timeout=${VIRTMESH_WAIT_TIMEOUT:-180s}
kube_version=v1.37.2

kubeconfig="$state/kubeconfig"              # admin
manager_kubeconfig="$state/manager.kubeconfig" # the operator's ServiceAccount
manager_bin=${VIRTMESH_MANAGER_BIN:-$bin/manager}
manager_id=${VIRTMESH_MANAGER_ID:+-$VIRTMESH_MANAGER_ID}
manager_pid="$state/manager$manager_id.pid"
manager_log="$state/manager$manager_id.log"
manager_health_port_file="$state/manager$manager_id.health-port"
kwok_workdir="$state/kwok"
istiod_pid="$state/host-istiod.pid"
istiod_log="$state/istiod.log"
istiod_dir="$state/istiod"

log() { printf '[local-cluster] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

kubectl() { "$bin/kubectl" --kubeconfig "$kubeconfig" "$@"; }

# kwokctl never downloads here: every binary is a local path, kubectl is found
# first in bin/ (kwokctl looks kubectl up on PATH), and the KWOK_* versions
# match what we built so kwokctl renders the right flags for them.
kwokctl() {
  env PATH="$bin:$PATH" \
    KWOK_WORKDIR="$kwok_workdir" \
    KWOK_KUBE_VERSION="$kube_version" \
    KWOK_RUNTIME=binary \
    KWOK_KUBECTL_BINARY="$bin/kubectl" \
    KWOK_KUBE_APISERVER_BINARY="$bin/kube-apiserver" \
    KWOK_KUBE_CONTROLLER_MANAGER_BINARY="$bin/kube-controller-manager" \
    KWOK_KUBE_SCHEDULER_BINARY="$bin/kube-scheduler" \
    KWOK_CONTROLLER_BINARY="$bin/kwok" \
    KWOK_ETCD_BINARY="$bin/etcd" \
    "$bin/kwokctl" --v="${VIRTMESH_KWOK_LOG_LEVEL:-WARN}" "$@"
}

build() {
  if [ "${VIRTMESH_SKIP_BUILD:-}" = 1 ]; then
    return
  fi
  "$root/hack/build-bins.sh" etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl kustomize pilot-discovery
  log "building the operator (bin/manager) and bin/host-istiod"
  (cd "$root" && go build -o "$bin/manager" . && go build -o "$bin/host-istiod" ./hack/host-istiod)
}

cluster_running() {
  [ -f "$kubeconfig" ] && kubectl get --raw /readyz >/dev/null 2>&1
}

create_cluster() {
  mkdir -p "$state"
  if cluster_running; then
    log "reusing the running cluster '$name' ($kubeconfig)"
    return
  fi
  if [ -d "$kwok_workdir/clusters/$name" ]; then
    log "cluster '$name' exists but does not answer: starting it"
    kwokctl start cluster --name "$name" --wait 2m || {
      log "start failed: recreating"
      kwokctl delete cluster --name "$name" || true
    }
  fi
  if [ ! -d "$kwok_workdir/clusters/$name" ]; then
    log "creating cluster '$name' (kwokctl binary runtime, Kubernetes $kube_version) in $kwok_workdir"
    # --kubeconfig '': leave ~/.kube/config alone; we use the cluster's own file.
    # --heartbeat-factor: node leases and status updates 5x slower than
    # kubelet's defaults (and the node monitor grace period with them), so the
    # fake nodes keep a 2-core machine quiet.
    # One create at a time on this host: kwokctl picks the first free ports
    # from 32766 down, and two concurrent creates (test/e2e and test/faults
    # under go test ./...) would pick the same ones. kwokctl gets no fd 9:
    # the components it starts must not hold the lock.
    exec 9>"${TMPDIR:-/tmp}/virtmesh-kwokctl-create.lock"
    flock 9
    kwokctl create cluster --name "$name" \
      --runtime binary \
      --kubeconfig '' \
      --kube-apiserver-binary "$bin/kube-apiserver" \
      --kube-controller-manager-binary "$bin/kube-controller-manager" \
      --kube-scheduler-binary "$bin/kube-scheduler" \
      --kwok-controller-binary "$bin/kwok" \
      --etcd-binary "$bin/etcd" \
      --heartbeat-factor 5 \
      --wait 3m 9>&-
    exec 9>&-
  fi
  ln -sf "$kwok_workdir/clusters/$name/kubeconfig.yaml" "$kubeconfig"
  local i
  for i in $(seq 1 60); do
    cluster_running && break
    sleep 1
  done
  cluster_running || die "the API server does not answer; logs: $kwok_workdir/clusters/$name/logs"
}

create_nodes() {
  local i node
  for i in $(seq 0 $((nodes - 1))); do
    node="kwok-node-$i"
    # The kwok.x-k8s.io/node=fake annotation is what kwok manages; no taint, so
    # launcher pods schedule without tolerations.
    kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $node
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: "0"
  labels:
    kubernetes.io/arch: amd64
    kubernetes.io/hostname: $node
    kubernetes.io/os: linux
    kubernetes.io/role: agent
    node-role.kubernetes.io/agent: ""
    type: kwok
status:
  allocatable:
    cpu: "32"
    memory: 256Gi
    pods: "110"
    devices.kubevirt.io/kvm: "1k"
  capacity:
    cpu: "32"
    memory: 256Gi
    pods: "110"
    devices.kubevirt.io/kvm: "1k"
EOF
  done
  kubectl wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null
  log "$nodes fake node(s) Ready (kwok simulates their kubelet)"
}

install() {
  log "installing CRDs, namespace virtmesh-system, ServiceAccount and RBAC (hack/local-cluster -> config/crd, config/rbac)"
  "$bin/kustomize" build "$root/hack/local-cluster" | kubectl apply --server-side --force-conflicts -f - >/dev/null
  kubectl wait --for=condition=Established crd/virtualmachineinstances.virt.virtmesh.io crd/meshcontrolplanes.mesh.virtmesh.io --timeout=60s >/dev/null
}

# The operator authenticates as its ServiceAccount, so it has exactly the
# permissions config/rbac grants it.
write_manager_kubeconfig() {
  local server ca token
  server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --raw --minify --flatten -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  token=$(kubectl -n virtmesh-system create token virtmesh-controller-manager --duration=48h)
  umask 077
  cat >"$manager_kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: $name
    cluster:
      server: $server
      certificate-authority-data: $ca
users:
  - name: virtmesh-controller-manager
    user:
      token: $token
contexts:
  - name: virtmesh-controller-manager
    context:
      cluster: $name
      user: virtmesh-controller-manager
current-context: virtmesh-controller-manager
EOF
}

# manager_env prints NAME=value for every env entry of config/manager/manager.yaml.
manager_env() {
  awk '
    /^ *env:/ { inenv = 1; next }
    inenv && /^ *- name:/ { sub(/^ *- name: */, ""); n = $0; next }
    inenv && /^ *value:/ { sub(/^ *value: */, ""); print n "=" $0; next }
    inenv && /^ *[a-zA-Z]+:/ && !/^ *#/ { inenv = 0 }
  ' "$root/config/manager/manager.yaml"
}

manager_running() {
  [ -f "$manager_pid" ] && kill -0 "$(cat "$manager_pid")" 2>/dev/null
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

operator_start() {
  [ -x "$manager_bin" ] || die "$manager_bin is missing: go build -o bin/manager ."
  cluster_running || die "no cluster: run '$0 up' first"
  operator_stop quiet
  case "${VIRTMESH_OPERATOR_AS:-serviceaccount}" in
    serviceaccount) write_manager_kubeconfig ;;
    admin) kubectl config view --raw --minify --flatten >"$manager_kubeconfig" ;;
    *) die "VIRTMESH_OPERATOR_AS must be serviceaccount or admin" ;;
  esac
  local port args envs
  port=$(free_port)
  echo "$port" >"$manager_health_port_file"
  mapfile -t envs < <(manager_env)
  [ ${#envs[@]} -gt 0 ] || die "no env found in config/manager/manager.yaml"
  args=(--kubeconfig "$manager_kubeconfig" --metrics-bind-address=0 --health-probe-bind-address="127.0.0.1:$port")
  if [ "${VIRTMESH_LEADER_ELECT:-}" = 1 ]; then
    # Outside a cluster the manager cannot find its own namespace; the
    # Lease goes where config/rbac's leader-election Role allows it.
    args+=(--leader-elect --leader-election-namespace=virtmesh-system)
  fi
  # shellcheck disable=SC2206 # word splitting of the extra flags is intended
  args+=(${VIRTMESH_MANAGER_ARGS:-})
  echo "=== $(date -u +%FT%TZ) operator start ===" >>"$manager_log"
  log "starting the operator: $manager_bin ${args[*]} (as ${VIRTMESH_OPERATOR_AS:-serviceaccount}; log: $manager_log)"
  # setsid: its own process group, so it outlives this script and dies alone.
  env "${envs[@]}" setsid "$manager_bin" "${args[@]}" >>"$manager_log" 2>&1 </dev/null &
  echo $! >"$manager_pid"
  local i
  for i in $(seq 1 60); do
    if ! manager_running; then
      tail -n 30 "$manager_log" >&2 || true
      die "the operator exited; log: $manager_log"
    fi
    if curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1; then
      log "operator ready (pid $(cat "$manager_pid"))"
      return
    fi
    sleep 1
  done
  die "the operator is not ready after 60s; log: $manager_log"
}

operator_stop() {
  if manager_running; then
    local pid i
    pid=$(cat "$manager_pid")
    [ "${1:-}" = quiet ] || log "stopping the operator (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 20); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$manager_pid"
}

host_istiod_running() {
  [ -f "$istiod_pid" ] && kill -0 "$(cat "$istiod_pid")" 2>/dev/null
}

# host_istiod_start runs istiod for the istiod pod in istio-system (it waits
# for the pod, and follows it when the Deployment replaces it).
host_istiod_start() {
  [ "${VIRTMESH_HOST_ISTIOD:-1}" = 0 ] && return
  [ -x "$bin/host-istiod" ] && [ -x "$bin/pilot-discovery" ] ||
    die "bin/host-istiod or bin/pilot-discovery is missing: go build -o bin/host-istiod ./hack/host-istiod; hack/build-bins.sh pilot-discovery"
  host_istiod_stop quiet
  mkdir -p "$istiod_dir"
  echo "=== $(date -u +%FT%TZ) host-istiod start ===" >>"$istiod_log"
  log "starting istiod on the host for the istiod pod in istio-system (log: $istiod_log, ports: $istiod_dir/ports)"
  setsid "$bin/host-istiod" --kubeconfig "$kubeconfig" --namespace istio-system --deployment istiod \
    --pilot-discovery "$bin/pilot-discovery" --dir "$istiod_dir" >>"$istiod_log" 2>&1 </dev/null &
  echo $! >"$istiod_pid"
}

host_istiod_stop() {
  if host_istiod_running; then
    local pid i
    pid=$(cat "$istiod_pid")
    [ "${1:-}" = quiet ] || log "stopping istiod (host-istiod pid $pid)"
    # Its own process group: host-istiod and pilot-discovery.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 30); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$istiod_pid"
}

apply_samples() {
  log "applying config/samples/mesh_v1alpha1_meshcontrolplane.yaml"
  kubectl apply -f "$root/config/samples/mesh_v1alpha1_meshcontrolplane.yaml"
  log "waiting for mcp/basic to be Ready (timeout $wait_timeout)"
  kubectl wait --for=condition=Ready mcp/basic -n istio-system --timeout="$wait_timeout" ||
    { kubectl describe mcp/basic -n istio-system >&2; die "mcp/basic is not Ready; operator log: $manager_log"; }
  # A launcher pod is enrolled in the mesh only if its namespace already is a
  # member when the pod is made (a VMI is one run; it is not re-rendered). So
  # create the namespace first and let the operator label it, then the VM.
  log "creating namespace bookinfo and waiting for the operator to make it a mesh member"
  kubectl create namespace bookinfo --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  kubectl wait --for=jsonpath='{.metadata.labels.mesh\.virtmesh\.io/member-of}'=istio-system.basic namespace/bookinfo --timeout="$wait_timeout" ||
    die "namespace bookinfo did not become a member of mcp/basic; operator log: $manager_log"
  log "applying config/samples/bookinfo-details-vm.yaml"
  kubectl apply -f "$root/config/samples/bookinfo-details-vm.yaml"
  log "waiting for the details-v1 VM to be Ready (timeout $wait_timeout)"
  kubectl wait --for=condition=Ready virtualmachines.virt.virtmesh.io/details-v1 -n bookinfo --timeout="$wait_timeout" ||
    { kubectl describe mvm/details-v1 mvmi/details-v1 -n bookinfo >&2; die "mvm/details-v1 is not Ready; operator log: $manager_log"; }
  log "applying config/samples/bookinfo-istio.yaml (request routing, gateway, authorization: read by the real istiod)"
  kubectl apply -f "$root/config/samples/bookinfo-istio.yaml"
}

print_env() {
  echo "export KUBECONFIG=$kubeconfig"
}

summary() {
  echo
  kubectl get nodes -o wide
  echo
  kubectl get mcp,mvm,mvmi,pods -A
  cat <<EOF

VirtMesh runs on a local cluster: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler are real; the $nodes node(s) are simulated by kwok. kwok plays
the kubelet: it marks pods Running/Ready and gives them IPs, but starts no
containers and boots no VMs, so "Running" means rendered, admitted and
scheduled, not booted.

  export KUBECONFIG=$kubeconfig
  $bin/kubectl get mcp,mvm,mvmi,pods -A
  $bin/kubectl describe mvm,mvmi details-v1 -n bookinfo

Operator: pid $(cat "$manager_pid" 2>/dev/null || echo '?'), log $manager_log
istiod (real, on this host): log $istiod_log; its ports (/debug/* on monitoring): $istiod_dir/ports
Cluster logs: $kwok_workdir/clusters/$name/logs
Stop everything: $0 down   (make stop-local)
EOF
}

cmd=${1:-}
shift || true
case "$cmd" in
  up)
    samples=1
    for a in "$@"; do
      case "$a" in
        --no-samples) samples=0 ;;
        *) die "unknown flag $a" ;;
      esac
    done
    start=$SECONDS
    build
    create_cluster
    create_nodes
    install
    operator_start
    host_istiod_start
    if [ $samples = 1 ]; then
      apply_samples
      summary
    fi
    log "up in $((SECONDS - start))s"
    ;;
  down)
    host_istiod_stop
    operator_stop
    for extra in "$state"/manager-*.pid; do
      [ -f "$extra" ] || continue
      manager_pid=$extra operator_stop
    done
    if [ -x "$bin/kwokctl" ] && [ -d "$kwok_workdir/clusters/$name" ]; then
      log "deleting cluster '$name'"
      kwokctl delete cluster --name "$name" || log "kwokctl delete failed; removing files anyway"
    fi
    rm -rf "$state"
    rmdir "$root/.local" 2>/dev/null || true
    log "down: removed $state"
    ;;
  status)
    if cluster_running; then
      echo "cluster '$name': running ($kubeconfig)"
    else
      echo "cluster '$name': not running"
    fi
    if manager_running; then
      echo "operator: running (pid $(cat "$manager_pid"), log $manager_log)"
    else
      echo "operator: not running"
    fi
    if host_istiod_running; then
      echo "istiod on the host: running (host-istiod pid $(cat "$istiod_pid"), log $istiod_log)"
    else
      echo "istiod on the host: not running"
    fi
    if cluster_running; then kubectl get mcp,mvm,mvmi,pods -A; fi
    ;;
  operator-start) operator_start ;;
  operator-stop) operator_stop ;;
  istiod-start) host_istiod_start ;;
  istiod-stop) host_istiod_stop ;;
  env) print_env ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
