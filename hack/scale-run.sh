#!/usr/bin/env bash
# scale-run.sh measures, in one run on a fresh local kwok cluster
# (hack/local-cluster.sh), how long N VirtualMachineInstances take to become
# Ready compared with N plain Pods of the same resource shape:
#
#   a  baseline: N Pods shaped like a launcher pod, created directly with
#      kubectl in a namespace outside the mesh (no operator involved)
#   b  N VMIs outside the mesh (the operator renders N launcher pods)
#   c  N VMIs in namespace scale-mesh, a member of MeshControlPlane
#      istio-system/scale (launcher pods with the proxy and mesh rules)
#
# Each phase is one `kubectl create -f -` of a multi-document stream followed
# by `kubectl wait --for=condition=Ready --all`; its time runs from just before
# the create to the return of the wait. Times are reported as ratios b/a and
# c/a against the baseline measured in the same run. Between phases the script
# waits until the operator's reconcile counter stops moving, so each phase's
# reconciles, CPU seconds and peak RSS are its own, and it reports whether the
# operator goes quiet once everything is Ready.
#
# kwok plays the kubelet: it binds nothing itself, starts no containers and
# boots no VMs; it marks scheduled pods Running and Ready at once. So these
# times are API server + scheduler + operator (+ kwok) throughput, not VM boot
# or image pull times. See docs/performance.md.
#
# Usage: hack/scale-run.sh [N]            (default N=100)
#
# Environment:
#   TMPDIR                   the run directory is created under it (default /tmp)
#   VIRTMESH_SKIP_BUILD=1    use bin/ as is (passed to hack/local-cluster.sh)
#   VIRTMESH_NODES           fake nodes (default: max(2, ceil(N/25)); a node
#                            holds 110 pods and 32 CPUs, all phases stay up)
#   SCALE_WAIT_TIMEOUT       kubectl wait timeout per phase (default 300s)
#   SCALE_QUIET              seconds without a reconcile that count as settled (default 10)
#   SCALE_SETTLE_MAX         give up waiting for quiet after this many seconds (default 60)
#   SCALE_SETTLE_LIMIT       settling must begin within this many seconds of Ready (default 20)
#   SCALE_KEEP=1             leave the cluster running (tear it down with
#                            VIRTMESH_LOCAL_DIR=<run>/cluster hack/local-cluster.sh down)
#
# Output: a table on stdout, also written to <run>/results.md, next to the
# operator log (<run>/manager.log) and raw metric scrapes (<run>/metrics-*.txt).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin"
n=${1:-100}
case "$n" in '' | *[!0-9]* | 0) echo "usage: $0 [N>0]" >&2; exit 2 ;; esac

run=$(mktemp -d "${TMPDIR:-/tmp}/virtmesh-scale.XXXXXX")
export VIRTMESH_LOCAL_DIR="$run/cluster"
export VIRTMESH_CLUSTER_NAME="vm-scale-$$"
export VIRTMESH_NODES=${VIRTMESH_NODES:-$(( (n + 24) / 25 < 2 ? 2 : (n + 24) / 25 ))}
wait_timeout=${SCALE_WAIT_TIMEOUT:-300s}
quiet=${SCALE_QUIET:-10}
settle_max=${SCALE_SETTLE_MAX:-60}
settle_limit=${SCALE_SETTLE_LIMIT:-20}
results="$run/results.md"
lc="$root/hack/local-cluster.sh"

log() { printf '[scale-run] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}
metrics_port=$(free_port)
# local-cluster.sh starts the operator with --metrics-bind-address=0 and
# appends VIRTMESH_MANAGER_ARGS; the last flag wins, so this enables the
# (plain HTTP, loopback only) controller-runtime metrics endpoint.
export VIRTMESH_MANAGER_ARGS="--metrics-bind-address=127.0.0.1:$metrics_port ${VIRTMESH_MANAGER_ARGS:-}"
# The run measures the operator's path, not Istio's: no istiod on the host
# (it would share the 2 CPUs); mcp/scale is therefore never Ready, only
# Reconciled, which is what the launcher pods are rendered from.
export VIRTMESH_HOST_ISTIOD=0

cleanup() {
  local rc=$?
  [ -f "$VIRTMESH_LOCAL_DIR/manager.log" ] && cp "$VIRTMESH_LOCAL_DIR/manager.log" "$run/manager.log" 2>/dev/null
  if [ "${SCALE_KEEP:-}" = 1 ]; then
    log "SCALE_KEEP=1: cluster left running; stop it with: VIRTMESH_LOCAL_DIR=$VIRTMESH_LOCAL_DIR VIRTMESH_CLUSTER_NAME=$VIRTMESH_CLUSTER_NAME $lc down"
  else
    "$lc" down >/dev/null 2>&1 || log "teardown failed; remove $VIRTMESH_LOCAL_DIR by hand"
  fi
  log "run directory: $run"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

kubectl() { "$bin/kubectl" --kubeconfig "$VIRTMESH_LOCAL_DIR/kubeconfig" "$@"; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b / a }'; }

log "N=$n, $VIRTMESH_NODES fake node(s), run directory $run"
"$lc" up --no-samples

pid=$(cat "$VIRTMESH_LOCAL_DIR/manager.pid")
# setsid execs the operator in place when it need not fork; make sure the pid
# is the operator's and not a setsid parent.
if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" != "$(readlink -f "${VIRTMESH_MANAGER_BIN:-$bin/manager}")" ]; then
  child=$(pgrep -P "$pid" | head -n1 || true)
  [ -n "$child" ] && pid=$child
fi
[ -r "/proc/$pid/stat" ] || die "cannot read /proc/$pid of the operator"
clk_tck=$(getconf CLK_TCK)

# cpu_seconds: utime + stime of the operator (fields 14 and 15 of
# /proc/pid/stat, counted after the ")" that ends the command name).
cpu_seconds() {
  awk -v t="$clk_tck" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$pid/stat"
}
# peak_rss_mib: VmHWM, the largest resident set since the operator started.
peak_rss_mib() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }

scrape() { curl -fsS "http://127.0.0.1:$metrics_port/metrics"; }
# reconciles <controller>: controller_runtime_reconcile_total summed over results.
reconciles() {
  scrape | awk -v c="$1" '
    /^controller_runtime_reconcile_total\{/ && index($0, "controller=\"" c "\"") { s += $NF }
    END { printf "%d", s }'
}
reconcile_errors() {
  scrape | awk -v c="$1" '
    /^controller_runtime_reconcile_total\{/ && index($0, "controller=\"" c "\"") && index($0, "result=\"error\"") { s += $NF }
    END { printf "%d", s }'
}
scrape >"$run/metrics-start.txt" || die "no metrics on 127.0.0.1:$metrics_port (operator log: $VIRTMESH_LOCAL_DIR/manager.log)"
vmi_ctrl=$(awk -F'controller="' '/^controller_runtime_reconcile_total\{/ { split($2, a, "\""); print a[1] }' "$run/metrics-start.txt" | grep -i virtualmachine | head -n1)
mcp_ctrl=$(awk -F'controller="' '/^controller_runtime_reconcile_total\{/ { split($2, a, "\""); print a[1] }' "$run/metrics-start.txt" | grep -i meshcontrolplane | head -n1)
[ -n "$vmi_ctrl" ] && [ -n "$mcp_ctrl" ] || die "controller_runtime_reconcile_total has no VMI/MCP controller series (see $run/metrics-start.txt)"
# reconcile_seconds <controller>: controller_runtime_reconcile_time_seconds_sum.
reconcile_seconds() {
  scrape | awk -v c="$1" '
    /^controller_runtime_reconcile_time_seconds_sum\{/ && index($0, "controller=\"" c "\"") { s += $NF }
    END { printf "%.3f", s }'
}
# api_requests: the operator's API requests (rest_client_requests_total, all codes and verbs).
api_requests() { scrape | awk '/^rest_client_requests_total\{/ { s += $NF } END { printf "%d", s }'; }
total_reconciles() { echo $(( $(reconciles "$vmi_ctrl") + $(reconciles "$mcp_ctrl") )); }

# settle: wait until neither controller has reconciled for $quiet seconds.
# Prints "<seconds from call to last change> <reconciles after the call>".
settle() {
  local start last_change cur prev base
  start=$SECONDS
  base=$(total_reconciles)
  prev=$base
  last_change=$SECONDS
  while [ $((SECONDS - last_change)) -lt "$quiet" ]; do
    if [ $((SECONDS - start)) -ge "$settle_max" ]; then
      echo "unsettled $(( $(total_reconciles) - base ))"
      return
    fi
    sleep 1
    cur=$(total_reconciles)
    if [ "$cur" != "$prev" ]; then
      prev=$cur
      last_change=$SECONDS
    fi
  done
  echo "$((last_change - start)) $((prev - base))"
}

# --- the mesh: MeshControlPlane istio-system/scale with member scale-mesh ---
log "creating MeshControlPlane istio-system/scale (member namespace scale-mesh)"
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: istio-system
---
apiVersion: mesh.virtmesh.io/v1alpha1
kind: MeshControlPlane
metadata:
  name: scale
  namespace: istio-system
spec:
  members:
    namespaces:
      - scale-mesh
EOF
kubectl wait --for=condition=Reconciled mcp/scale -n istio-system --timeout="$wait_timeout" >/dev/null ||
  { kubectl describe mcp/scale -n istio-system >&2; die "mcp/scale is not Reconciled"; }
for ns in scale-base scale-plain scale-mesh; do
  kubectl create namespace "$ns" >/dev/null
done
# As for bookinfo in local-cluster.sh: a launcher pod is enrolled only if its
# namespace already is a member, so wait for the operator's label first.
kubectl wait --for=jsonpath='{.metadata.labels.mesh\.virtmesh\.io/member-of}'=istio-system.scale namespace/scale-mesh --timeout="$wait_timeout" >/dev/null ||
  die "namespace scale-mesh did not become a member of mcp/scale"
read -r _ _ < <(settle)

# --- generated objects ---
# The VMI is the Bookinfo details shape without cloud-init. The plain Pod
# mirrors the launcher pod the operator renders for it outside the mesh:
# compute 250m/448Mi (256Mi guest + overhead), one container-disk container
# and two init containers of 10m/40Mi each. The script checks the match below.
vmis() {
  local ns=$1 i
  for i in $(seq 1 "$n"); do
    cat <<EOF
---
apiVersion: virt.virtmesh.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: vm-$i
  namespace: $ns
  labels:
    app: scale
spec:
  domain:
    cpu:
      cores: 1
    memory:
      guest: 256Mi
    resources:
      requests:
        memory: 256Mi
        cpu: 250m
    devices:
      disks:
        - name: containerdisk
          disk:
            bus: virtio
      interfaces:
        - name: default
          masquerade: {}
          ports:
            - name: http
              port: 9080
  networks:
    - name: default
      pod: {}
  volumes:
    - name: containerdisk
      containerDisk:
        image: quay.io/containerdisks/fedora:40
EOF
  done
}

pods() {
  local ns=$1 i
  for i in $(seq 1 "$n"); do
    cat <<EOF
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-$i
  namespace: $ns
  labels:
    app: scale
spec:
  automountServiceAccountToken: false
  enableServiceLinks: false
  restartPolicy: Never
  initContainers:
    - name: helper-install
      image: quay.io/virtmesh/virt-launcher:v0.1.0
      resources: {requests: {cpu: 10m, memory: 40Mi}, limits: {cpu: 10m, memory: 40Mi}}
    - name: net-setup
      image: quay.io/virtmesh/virt-launcher:v0.1.0
      resources: {requests: {cpu: 10m, memory: 40Mi}, limits: {cpu: 10m, memory: 40Mi}}
  containers:
    - name: compute
      image: quay.io/virtmesh/virt-launcher:v0.1.0
      resources: {requests: {cpu: 250m, memory: 448Mi}}
    - name: volumecontainerdisk
      image: quay.io/containerdisks/fedora:40
      resources: {requests: {cpu: 10m, memory: 40Mi}, limits: {cpu: 10m, memory: 40Mi}}
EOF
  done
}

# phase <key> <label> <namespace> <generator> <resource>
declare -A t_sec r_vmi r_mcp r_err r_sec api cpu rss settle_s settle_n
phase() {
  local key=$1 label=$2 ns=$3 gen=$4 res=$5 t0 t1 c0 v0 m0 e0 s0 q0 s
  log "phase $key: $label"
  "$gen" "$ns" >"$run/phase-$key.yaml"
  c0=$(cpu_seconds)
  v0=$(reconciles "$vmi_ctrl")
  m0=$(reconciles "$mcp_ctrl")
  e0=$(reconcile_errors "$vmi_ctrl")
  s0=$(reconcile_seconds "$vmi_ctrl")
  q0=$(api_requests)
  t0=$(now)
  kubectl create -f - <"$run/phase-$key.yaml" >/dev/null
  kubectl wait --for=condition=Ready "$res" --all -n "$ns" --timeout="$wait_timeout" >/dev/null ||
    { kubectl get "$res" -n "$ns" >&2 || true; die "phase $key: not all $res Ready within $wait_timeout"; }
  t1=$(now)
  t_sec[$key]=$(secs "$t0" "$t1")
  log "phase $key: all $n Ready in ${t_sec[$key]}s; waiting for the operator to go quiet"
  s=$(settle)
  settle_s[$key]=${s% *}
  settle_n[$key]=${s#* }
  r_vmi[$key]=$(( $(reconciles "$vmi_ctrl") - v0 ))
  r_mcp[$key]=$(( $(reconciles "$mcp_ctrl") - m0 ))
  r_err[$key]=$(( $(reconcile_errors "$vmi_ctrl") - e0 ))
  r_sec[$key]=$(awk -v a="$s0" -v b="$(reconcile_seconds "$vmi_ctrl")" 'BEGIN { printf "%.1f", b - a }')
  api[$key]=$(( $(api_requests) - q0 ))
  cpu[$key]=$(awk -v a="$c0" -v b="$(cpu_seconds)" 'BEGIN { printf "%.2f", b - a }')
  rss[$key]=$(peak_rss_mib)
  scrape >"$run/metrics-after-$key.txt"
}

phase a "baseline: $n plain Pods (kubectl) in scale-base" scale-base pods pods
phase b "$n VMIs outside the mesh in scale-plain" scale-plain vmis virtualmachineinstances.virt.virtmesh.io
phase c "$n mesh-enrolled VMIs in scale-mesh" scale-mesh vmis virtualmachineinstances.virt.virtmesh.io

# --- checks: enrollment and resource shape ---
count_cond() { # <ns> <condition type> -> how many VMIs have it True
  kubectl get virtualmachineinstances.virt.virtmesh.io -n "$1" \
    -o jsonpath="{range .items[*]}{range .status.conditions[?(@.type==\"$2\")]}{.status}{\"\n\"}{end}{end}" | grep -c '^True$' || true
}
enrolled_b=$(count_cond scale-plain MeshEnrolled)
enrolled_c=$(count_cond scale-mesh MeshEnrolled)
shape() { # <ns>: requests of the first pod, init containers | containers
  kubectl get pods -n "$1" -o jsonpath='{.items[0].spec.initContainers[*].resources.requests}{" | "}{.items[0].spec.containers[*].resources.requests}'
}
shape_a=$(shape scale-base)
shape_b=$(shape scale-plain)
shape_c=$(shape scale-mesh)
[ "$shape_a" = "$shape_b" ] && shape_note="match" || shape_note="DIFFER"

# settled: the operator went quiet (no reconcile for $quiet s) and its last
# reconcile came at most $settle_limit s after the phase was Ready.
settled=PASS
for k in a b c; do
  if [ "${settle_s[$k]}" = unsettled ] || [ "${settle_s[$k]}" -gt "$settle_limit" ]; then settled=FAIL; fi
done

{
  echo "# VirtMesh scale run: N=$n"
  echo
  echo "- date: $(date -u +%FT%TZ), commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$root" diff --quiet HEAD 2>/dev/null || echo ' (dirty)')"
  echo "- machine: $(nproc) CPU(s), $(awk '/^model name/ { sub(/^[^:]*: /, ""); print; exit }' /proc/cpuinfo), $(awk '/^MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo) RAM"
  echo "- cluster: kwok, $VIRTMESH_NODES fake node(s), real etcd/kube-apiserver/kube-controller-manager/kube-scheduler on the same machine"
  echo "- operator: pid $pid, metrics 127.0.0.1:$metrics_port; reconcile counts from controller_runtime_reconcile_total ($vmi_ctrl, $mcp_ctrl)"
  echo
  echo "| phase | objects | all Ready (s) | vs a | VMI reconciles | MCP reconciles | VMI reconcile errors | VMI reconcile time (s) | operator API requests | operator CPU (s) | operator peak RSS (MiB) | quiet after (s) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  echo "| a baseline | $n Pods (kubectl) | ${t_sec[a]} | 1.00 | ${r_vmi[a]} | ${r_mcp[a]} | ${r_err[a]} | ${r_sec[a]} | ${api[a]} | ${cpu[a]} | ${rss[a]} | ${settle_s[a]} |"
  echo "| b no mesh | $n VMIs | ${t_sec[b]} | $(ratio "${t_sec[a]}" "${t_sec[b]}") | ${r_vmi[b]} | ${r_mcp[b]} | ${r_err[b]} | ${r_sec[b]} | ${api[b]} | ${cpu[b]} | ${rss[b]} | ${settle_s[b]} |"
  echo "| c mesh | $n VMIs | ${t_sec[c]} | $(ratio "${t_sec[a]}" "${t_sec[c]}") | ${r_vmi[c]} | ${r_mcp[c]} | ${r_err[c]} | ${r_sec[c]} | ${api[c]} | ${cpu[c]} | ${rss[c]} | ${settle_s[c]} |"
  echo
  echo "- ratios: b/a = $(ratio "${t_sec[a]}" "${t_sec[b]}"), c/a = $(ratio "${t_sec[a]}" "${t_sec[c]}"), c/b = $(ratio "${t_sec[b]}" "${t_sec[c]}")"
  echo "- reconciles per VMI: b $(ratio "$n" "${r_vmi[b]}"), c $(ratio "$n" "${r_vmi[c]}")"
  echo "- settle check ($settled): after each phase was Ready the reconcile counter's last change came after the 'quiet after' seconds shown, then stayed still for ${quiet}s (limit ${settle_limit}s; reconciles after Ready: a ${settle_n[a]}, b ${settle_n[b]}, c ${settle_n[c]})"
  echo "- MeshEnrolled=True: b $enrolled_b/$n, c $enrolled_c/$n"
  echo "- pod shape (init requests | container requests), a vs b: $shape_note"
  echo "  - a: $shape_a"
  echo "  - b: $shape_b"
  echo "  - c: $shape_c"
} | tee "$results"

[ "$enrolled_c" = "$n" ] || log "WARNING: only $enrolled_c of $n VMIs in scale-mesh are MeshEnrolled"
[ "$enrolled_b" = 0 ] || log "WARNING: $enrolled_b VMIs outside the mesh are MeshEnrolled"
log "results: $results"
