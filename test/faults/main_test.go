// Package faults breaks a running VirtMesh on purpose and checks that it
// converges: the operator SIGKILLed while VMIs are being created, launcher
// pods deleted while it is down before any status named them, the API
// server stopped for 10 s, the leader of two replicas killed, a node
// removed under running VMIs, a MeshControlPlane deleted under meshed VMIs.
//
// It needs a whole cluster and real operator processes: TestMain brings up
// its own local cluster (hack/local-cluster.sh through
// internal/testing/kwokcluster: real etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler, kwok nodes) and runs the
// operator built from this tree as the manager Deployment does (its
// ServiceAccount, --leader-elect), with a loopback metrics endpoint. The
// tests run one after another (they stop shared components).
//
// Environment:
//
//	VIRTMESH_FAULTS_KEEP=1   keep the cluster (prints how to reach and remove it)
package faults

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/logtail"
	"virtmesh.io/virtmesh/internal/testenv"
	"virtmesh.io/virtmesh/internal/testing/interrupt"
	"virtmesh.io/virtmesh/internal/testing/kwokcluster"
)

var (
	cluster *kwokcluster.Cluster
	// operator is the first replica; tests that stop it start it again.
	operator *kwokcluster.Operator
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	root := testenv.RepoRoot()
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwokctl", "kustomize"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			fmt.Fprintf(os.Stderr, "faults: bin/%s is missing: run 'make bins' (hack/build-bins.sh)\n", b)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "virtmesh-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	ctx := context.Background()
	// The operator is the code under test: build it from this tree, never
	// into the shared bin/.
	bin := filepath.Join(dir, "manager")
	if err := kwokcluster.BuildManager(ctx, root, bin); err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	addr, err := kwokcluster.FreePort()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		return 1
	}
	started := time.Now()
	cluster, err = kwokcluster.Up(ctx, kwokcluster.Options{
		Root: root, Dir: filepath.Join(dir, "cluster"), Name: fmt.Sprintf("virtmesh-faults-%d", os.Getpid()),
		Nodes: 4, ManagerBin: bin, ManagerArgs: []string{"--metrics-bind-address=" + addr}, LeaderElect: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults: cluster:", err)
		_ = os.RemoveAll(dir)
		return 1
	}
	operator = cluster.Operator("", addr)
	fmt.Fprintf(os.Stderr, "faults: cluster up in %s (state %s)\n", time.Since(started).Round(time.Second), dir)

	keep := os.Getenv("VIRTMESH_FAULTS_KEEP") == "1"
	var once sync.Once
	down := func() {
		once.Do(func() {
			if err := cluster.Down(context.Background()); err != nil {
				fmt.Fprintln(os.Stderr, "faults: teardown:", err)
			}
			_ = os.RemoveAll(dir)
		})
	}
	if !keep {
		stop := interrupt.Teardown("faults", down)
		defer stop()
	}
	code := m.Run()
	if code != 0 {
		for _, log := range []string{operator.LogPath(), cluster.Operator("2", "").LogPath()} {
			if b, err := os.ReadFile(log); err == nil {
				fmt.Fprintf(os.Stderr, "faults: last lines of %s:\n%s\n", log, logtail.Last(string(b), 60))
			}
		}
	}
	if keep {
		fmt.Fprintf(os.Stderr, "faults: kept the cluster: export KUBECONFIG=%s; remove it with: VIRTMESH_LOCAL_DIR=%s VIRTMESH_CLUSTER_NAME=virtmesh-faults-%d hack/local-cluster.sh down\n", cluster.Kubeconfig, filepath.Join(dir, "cluster"), os.Getpid())
	} else {
		down()
	}
	return code
}
