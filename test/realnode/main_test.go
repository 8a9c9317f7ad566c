// Package realnode proves VirtMesh on a real node: hack/local-cluster.sh up
// with VIRTMESH_NODES=real starts etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd (runc), the kubelet,
// kube-proxy and CoreDNS on this host, and installs the operator in-cluster
// from config/default with the local images (leader election on). Then:
//
//  1. a client pod's request to details.bookinfo.svc.cluster.local:9080 is
//     answered by the guest (its kernel and cloud-init instance-id), through
//     the launcher pod's proxy inbound path (TestBookinfo);
//  2. the guest calls another Service by name, through the proxy's outbound
//     listener, and reaches the pod behind it (TestBookinfo);
//  3. kubectl delete powers the guest off through ACPI within the grace
//     period, a guest poweroff makes the VMI Succeeded, a broken container
//     disk makes it Failed with the launcher's reason (TestLifecycle);
//  4. only net-setup holds NET_ADMIN/NET_RAW; compute, the disk helper and
//     the proxy hold no more than docs/networking.md says, read from
//     /proc/<pid>/status of the real processes (TestBookinfo);
//  5. SIGKILL of the operator while 20 VMIs start: it restarts, every VMI
//     has exactly one launcher pod and reaches Running (TestOperatorKilled);
//  6. apply -> first answer through a Service, p50 over 5 VMIs, and where
//     the time goes (TestBootTime).
//
// TestMain tears the cluster down and checks the host is as it was (no
// process, mount, network namespace, link, iptables chain, cgroup or file
// left, sysctls restored), then brings a second cluster up and down to show
// a second run works. It needs root; a missing package or binary fails
// with the command that fixes it. By default TestMain builds what it needs
// (hack/local-cluster.sh up does: packages, pinned binaries, images);
// VIRTMESH_REALNODE_SKIP_BUILD=1 uses bin/ as is, VIRTMESH_REALNODE_KEEP=1
// leaves the cluster up (and skips the cleanliness check).
package realnode

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/cluster"
	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/internal/logtail"
	"virtmesh.io/virtmesh/internal/testing/repo"
)

var (
	repoRoot   string
	binDir     string
	stateDir   string
	kubeconfig string
	state      cluster.State
	scriptEnv  []string
)

const clusterName = "virtmesh-realnode"

func TestMain(m *testing.M) { os.Exit(run(m)) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "realnode: "+format+"\n", args...)
}

func run(m *testing.M) int {
	flag.Parse()
	if os.Geteuid() != 0 {
		logf("the real-node suite runs containerd and the kubelet: run it as root (make test does, as CI does)")
		return 1
	}
	var err error
	if repoRoot, err = repo.RootFromWorkingDir(); err != nil {
		logf("%v", err)
		return 1
	}
	binDir = filepath.Join(repoRoot, "bin")
	if stateDir, err = os.MkdirTemp("", "virtmesh-realnode-"); err != nil {
		logf("%v", err)
		return 1
	}
	kubeconfig = filepath.Join(stateDir, "kubeconfig")
	scriptEnv = []string{"VIRTMESH_NODES=real", "VIRTMESH_LOCAL_DIR=" + stateDir, "VIRTMESH_CLUSTER_NAME=" + clusterName}
	if os.Getenv("VIRTMESH_REALNODE_SKIP_BUILD") == "1" {
		scriptEnv = append(scriptEnv, "VIRTMESH_SKIP_BUILD=1")
	}

	// One node per host: wait for another run (another worktree's make
	// test) to finish rather than fight over iptables and cgroups.
	if err := waitNoOtherNode(30 * time.Minute); err != nil {
		logf("%v", err)
		return 1
	}
	before, err := host.Take(snapshotOptions())
	if err != nil {
		logf("host snapshot: %v", err)
		return 1
	}

	code := 1
	started := time.Now()
	out, err := script(45*time.Minute, "up", "--no-samples")
	if err != nil {
		logf("hack/local-cluster.sh up failed: %v\n%s", err, logtail.Last(out, 80))
	} else {
		upTime = time.Since(started)
		logf("cluster up in %s (state %s):\n%s", upTime.Round(100*time.Millisecond), stateDir, progressLines(out))
		if state, err = cluster.ReadState(stateDir); err != nil {
			logf("%v", err)
		} else {
			code = m.Run()
		}
	}
	if code != 0 {
		dumpLogs()
	}
	if os.Getenv("VIRTMESH_REALNODE_KEEP") == "1" {
		logf("kept the cluster: export KUBECONFIG=%s; remove it with: VIRTMESH_LOCAL_DIR=%s hack/local-cluster.sh down", kubeconfig, stateDir)
		return code
	}
	if !downAndCheck(before, "first") {
		code = 1
	}
	// A second run right after works and leaves the host clean too.
	if code == 0 {
		started = time.Now()
		if out, err := script(10*time.Minute, "up", "--no-samples"); err != nil {
			logf("the second hack/local-cluster.sh up failed: %v\n%s", err, logtail.Last(out, 60))
			code = 1
		} else {
			logf("second cluster up in %s", time.Since(started).Round(100*time.Millisecond))
		}
		if !downAndCheck(before, "second") {
			code = 1
		}
	}
	return code
}

var upTime time.Duration

// downAndCheck tears the cluster down and compares the host with before.
func downAndCheck(before host.Snapshot, which string) bool {
	start := time.Now()
	out, err := script(5*time.Minute, "down")
	if err != nil {
		logf("%s hack/local-cluster.sh down failed: %v\n%s", which, err, out)
		return false
	}
	logf("%s cluster down in %s", which, time.Since(start).Round(100*time.Millisecond))
	after, err := host.Take(snapshotOptions())
	if err != nil {
		logf("host snapshot: %v", err)
		return false
	}
	if diff := host.Diff(before, after); len(diff) > 0 {
		logf("the host is not as it was before the %s cluster:\n  %s", which, strings.Join(diff, "\n  "))
		return false
	}
	logf("after the %s cluster the host is as before: %d processes of it, %d mounts, netns %v, links %v, %d iptables tables, %d cgroup hierarchies, %d sysctls, %d paths and %d directories compared",
		which, len(after.Processes), len(after.Mounts), after.Netns, after.Links, len(after.IPTables), len(after.Cgroups), len(after.Sysctls), len(after.Paths), len(after.Dirs))
	return true
}

// snapshotOptions: what a node may touch outside its work directory.
func snapshotOptions() host.SnapshotOptions {
	return host.SnapshotOptions{
		Markers:   []string{stateDir},
		MountDirs: []string{stateDir, "/var/lib/kubelet", "/run/containerd", "/run/netns", "/var/lib/containerd"},
		NetnsDir:  "/run/netns",
		// The work directory itself is made before and removed after.
		Paths: []string{
			"/var/lib/kubelet", "/var/lib/cni", "/var/lib/containerd", "/run/containerd", "/var/log/pods",
			"/var/log/containers", "/etc/cni", "/opt/cni", "/opt/containerd", "/run/nri", "/etc/containerd", "/etc/kubernetes",
			"/var/lib/etcd", "/run/xtables.lock", "/var/run/netns", "/var/lib/kube-proxy",
		},
		Dirs: []string{"/", "/etc", "/var/lib", "/var/log", "/run", "/opt", "/var/run"},
	}
}

func waitNoOtherNode(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	said := false
	for {
		other := cluster.OtherNode(stateDir)
		if other == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another node still runs on this host after %s: %s", timeout, other)
		}
		if !said {
			logf("another node runs on this host (%s): waiting for it to go", other)
			said = true
		}
		time.Sleep(10 * time.Second)
	}
}

func progressLines(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "[local-cluster]") {
			keep = append(keep, "  "+l)
		}
	}
	return strings.Join(keep, "\n")
}

func dumpLogs() {
	for _, name := range []string{"kubelet", "containerd", "kube-proxy", "up"} {
		p := filepath.Join(stateDir, "logs", name+".log")
		if b, err := os.ReadFile(p); err == nil {
			logf("last lines of %s:\n%s", p, logtail.Last(string(b), 30))
		}
	}
	if out, _, err := kubectlRun("", "logs", "-n", cluster.OperatorNamespace, "deployment/"+cluster.OperatorDeployment, "--tail=40"); err == nil {
		logf("last lines of the operator's log:\n%s", out)
	}
	if out, _, err := kubectlRun("", "get", "pods", "-A", "-o", "wide"); err == nil {
		logf("pods:\n%s", out)
	}
}

// script runs hack/local-cluster.sh for this suite's cluster.
func script(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(repoRoot, "hack/local-cluster.sh"), args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), scriptEnv...)
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return buf.String(), err
}

// kubectlRun runs bin/kubectl against the suite's cluster.
func kubectlRun(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, errOut, err := kubectlRun("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

func kubectlIn(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := kubectlRun(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s\nstdin:\n%s", strings.Join(args, " "), err, out, errOut, stdin)
	}
	return out
}

func getJSON(v any, args ...string) error {
	out, errOut, err := kubectlRun("", append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return fmt.Errorf("kubectl get %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut))
	}
	return json.Unmarshal([]byte(out), v)
}

// eventually polls f until it returns nil or timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for {
		if last = f(); last == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %v", timeout, what, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
