// Package e2e runs VirtMesh end to end on a local cluster made by
// hack/local-cluster.sh in kwok mode (VIRTMESH_NODES=kwok): real etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, nodes
// simulated by kwok, the operator (bin/manager) as a local process with its
// ServiceAccount's RBAC, and the real istiod of the samples' mcp/basic in
// istio-system run on this host (bin/host-istiod). Everything is driven with
// the pinned bin/kubectl, as a user would. test/realnode runs the real node.
//
// kwok plays the kubelet: pods become Running/Ready with an IP, but no
// container runs and no VM boots. These tests therefore check what the operator
// asks of Kubernetes and how it reacts to Kubernetes, not the data plane
// (test/dataplane and test/vm do that) nor Istio (test/istio). A
// MeshControlPlane other than mcp/basic has no istiod, so it never gets
// Ready; those tests wait for Reconciled.
//
// By default TestMain builds what it needs (hack/build-bins.sh, go build), brings
// up its own cluster in a temporary directory and always tears it down.
// Environment:
//
//	VIRTMESH_E2E_LOCAL_DIR=<dir>  reuse (or create and keep) the cluster whose
//	                              state is in <dir> (hack/local-cluster.sh's
//	                              VIRTMESH_LOCAL_DIR), e.g. <repo>/.local/cluster
//	                              after `make run-local`; it is not torn down.
//	VIRTMESH_E2E_KEEP=1           keep the cluster TestMain started (prints how
//	                              to reach it and how to remove it).
//	VIRTMESH_E2E_SKIP_BUILD=1     use bin/ as is.
//
// The tests skip (not pass) only when the pinned binaries cannot be built.
package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/logtail"
	"virtmesh.io/virtmesh/internal/testing/interrupt"
	"virtmesh.io/virtmesh/internal/testing/repo"
)

var (
	repoRoot   string
	binDir     string
	stateDir   string
	kubeconfig string
	// scriptEnv is the environment hack/local-cluster.sh runs with.
	scriptEnv []string
)

const clusterName = "virtmesh-e2e"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse() // for -test.timeout, read by teardown.OnInterrupt
	var err error
	repoRoot, err = repo.RootFromWorkingDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binDir = filepath.Join(repoRoot, "bin")

	// The builds run before m.Run, so they do not count against go test's
	// -timeout (a cold build of the control plane takes several minutes).
	if os.Getenv("VIRTMESH_E2E_SKIP_BUILD") != "1" {
		bins := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl", "kustomize", "pilot-discovery"}
		if out, err := command(30*time.Minute, nil, filepath.Join(repoRoot, "hack/build-bins.sh"), bins...); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: the pinned binaries (%s) cannot be built: %v\n%s\n", strings.Join(bins, ", "), err, logtail.Last(out, 40))
			return 1
		}
		// The operator is the code under test: a failure to build it fails.
		if out, err := command(10*time.Minute, nil, "go", "build", "-o", filepath.Join(binDir, "manager"), "."); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build -o bin/manager . failed: %v\n%s\n", err, out)
			return 1
		}
		// The real istiod of mcp/basic runs on this host (hack/local-cluster.sh).
		if out, err := command(10*time.Minute, nil, "go", "build", "-o", filepath.Join(binDir, "host-istiod"), "./hack/host-istiod"); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: go build -o bin/host-istiod ./hack/host-istiod failed: %v\n%s\n", err, out)
			return 1
		}
	}

	reuse := os.Getenv("VIRTMESH_E2E_LOCAL_DIR")
	owned := reuse == ""
	if owned {
		stateDir, err = os.MkdirTemp("", "virtmesh-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e:", err)
			return 1
		}
		scriptEnv = []string{"VIRTMESH_LOCAL_DIR=" + stateDir, "VIRTMESH_CLUSTER_NAME=" + clusterName}
	} else {
		// Relative to the repository root, like the Makefile's paths.
		stateDir = reuse
		if !filepath.IsAbs(stateDir) {
			stateDir = filepath.Join(repoRoot, stateDir)
		}
		scriptEnv = []string{"VIRTMESH_LOCAL_DIR=" + stateDir}
		if n := os.Getenv("VIRTMESH_CLUSTER_NAME"); n != "" {
			scriptEnv = append(scriptEnv, "VIRTMESH_CLUSTER_NAME="+n)
		}
	}
	// kwok mode even as root (where the default is the real node, which
	// test/realnode covers).
	scriptEnv = append(scriptEnv, "VIRTMESH_SKIP_BUILD=1", "VIRTMESH_NODES=kwok")
	kubeconfig = filepath.Join(stateDir, "kubeconfig")

	if owned && os.Getenv("VIRTMESH_E2E_KEEP") != "1" {
		stopWatchdog := interrupt.Teardown("e2e", func() { _, _ = teardown() })
		defer stopWatchdog()
	}

	code := 1
	started := time.Now()
	out, err := script(10*time.Minute, "up", "--no-samples")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: hack/local-cluster.sh up failed: %v\n%s\n", err, out)
	} else {
		fmt.Fprintf(os.Stderr, "e2e: cluster up in %s (state %s)\n", time.Since(started).Round(time.Second), stateDir)
		code = m.Run()
	}
	if code != 0 {
		if b, err := os.ReadFile(filepath.Join(stateDir, "manager.log")); err == nil {
			fmt.Fprintf(os.Stderr, "e2e: last lines of the operator log (%s):\n%s\n", filepath.Join(stateDir, "manager.log"), logtail.Last(string(b), 60))
		}
	}

	switch {
	case !owned:
		fmt.Fprintf(os.Stderr, "e2e: leaving the reused cluster in %s running\n", stateDir)
	case os.Getenv("VIRTMESH_E2E_KEEP") == "1":
		fmt.Fprintf(os.Stderr, "e2e: kept the cluster: export KUBECONFIG=%s; remove it with: VIRTMESH_LOCAL_DIR=%s VIRTMESH_CLUSTER_NAME=%s hack/local-cluster.sh down\n", kubeconfig, stateDir, clusterName)
	default:
		if out, err := teardown(); err != nil {
			fmt.Fprintf(os.Stderr, "e2e: hack/local-cluster.sh down failed: %v\n%s\n", err, out)
			code = 1
		}
	}
	return code
}

var teardownOnce sync.Once

// teardown stops the operator and deletes the cluster TestMain started.
func teardown() (string, error) {
	var out string
	var err error
	teardownOnce.Do(func() {
		out, err = script(3*time.Minute, "down")
		_ = os.RemoveAll(stateDir)
	})
	return out, err
}

// command runs name args in the repository root and returns its combined output.
func command(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 5 * time.Second
	var buf bytes.Buffer
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.String(), err
}

// script runs hack/local-cluster.sh for this suite's cluster.
func script(timeout time.Duration, args ...string) (string, error) {
	return command(timeout, scriptEnv, filepath.Join(repoRoot, "hack/local-cluster.sh"), args...)
}

// kubectlRun runs the pinned bin/kubectl against the suite's cluster, with
// stdin when given, and returns stdout and stderr separately.
func kubectlRun(stdin string, args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = repoRoot
	// No ambient kubeconfig or kubectl plugins: only what the suite set up.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// kubectl runs bin/kubectl and fails the test when it fails.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := kubectlRun("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// kubectlIn is kubectl with a manifest on stdin.
func kubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := kubectlRun(stdin, args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s\nstdin:\n%s", strings.Join(args, " "), err, out, errOut, stdin)
	}
	return out
}

// getJSON decodes `kubectl get <args> -o json` into v.
func getJSON(args []string, v any) error {
	out, errOut, err := kubectlRun("", append(append([]string{"get"}, args...), "-o", "json")...)
	if err != nil {
		return fmt.Errorf("kubectl get %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(errOut))
	}
	if err := json.Unmarshal([]byte(out), v); err != nil {
		return fmt.Errorf("decode kubectl get %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// eventually polls f every interval until it returns nil or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	interval := 250 * time.Millisecond
	var last error
	for {
		err := f()
		if err == nil {
			if d := time.Since(start); d > 10*time.Second {
				t.Logf("%s: took %s; last seen before: %v", what, d.Round(100*time.Millisecond), last)
			}
			return
		}
		last = err
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s: %v", timeout, what, err)
		}
		time.Sleep(interval)
		if interval < 2*time.Second {
			interval *= 2
		}
	}
}

// uniqueName returns prefix-<6 hex chars>.
func uniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// newNamespace creates a namespace deleted (without waiting) when t ends.
func newNamespace(t *testing.T, prefix string, labels ...string) string {
	t.Helper()
	ns := uniqueName(prefix)
	manifest := fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", ns)
	if len(labels) > 0 {
		manifest += "  labels:\n"
		for i := 0; i+1 < len(labels); i += 2 {
			manifest += fmt.Sprintf("    %s: %q\n", labels[i], labels[i+1])
		}
	}
	kubectlIn(t, manifest, "apply", "-f", "-")
	t.Cleanup(func() {
		if os.Getenv("VIRTMESH_E2E_KEEP") == "1" && t.Failed() {
			return
		}
		_, _, _ = kubectlRun("", "delete", "namespace", ns, "--wait=false", "--ignore-not-found")
	})
	return ns
}
