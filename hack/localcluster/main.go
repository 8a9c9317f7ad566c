// Command localcluster runs VirtMesh on a local Kubernetes cluster, either
// on a real node (containerd, kubelet, kube-proxy and CoreDNS on this host:
// pods run and VMs boot) or on nodes simulated by kwok (nothing runs; for
// scale runs). hack/local-cluster.sh is its thin wrapper and `make
// run-local` / `make stop-local` call that. See docs/local-cluster.md.
//
// Usage: localcluster <command> [flags]
//
//	up [--no-samples]   build, start the cluster (or reuse it), install the
//	                    operator, apply the samples and show them working
//	down                undo everything up did (the teardown journal), also
//	                    after a crash, and remove the work directory
//	status              the mode, the components and the samples
//	operator-start      (re)start only the operator
//	operator-stop       stop only the operator
//	env                 print the export line for kubectl
//
// Environment (hack/local-cluster.sh's):
//
//	VIRTMESH_NODES            "" (the real node as root on Linux, else kwok),
//	                          real, kwok, or a number of kwok nodes
//	VIRTMESH_LOCAL_DIR        work directory (default <repo>/.local/cluster)
//	VIRTMESH_CLUSTER_NAME     cluster name (default virtmesh)
//	VIRTMESH_SKIP_BUILD=1     use bin/ as is
//	VIRTMESH_WAIT_TIMEOUT     wait for the samples (default 300s)
//	kwok mode's host operator: VIRTMESH_LEADER_ELECT=1, VIRTMESH_OPERATOR_AS
//	(serviceaccount|admin), VIRTMESH_MANAGER_BIN, VIRTMESH_MANAGER_ARGS, VIRTMESH_MANAGER_ID,
//	VIRTMESH_KWOK_LOG_LEVEL
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/cluster"
	"virtmesh.io/virtmesh/internal/testing/repo"
)

func main() {
	closeInheritedFDs()
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "[local-cluster] ERROR:", err)
		os.Exit(1)
	}
}

// closeInheritedFDs marks every inherited descriptor but stdin, stdout and
// stderr close-on-exec. The daemons this program starts outlive it; without
// this they would keep whatever the caller left open, e.g. the lock of
// `flock /work/heavy.lock make run-local`, and hold it for hours.
func closeInheritedFDs() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			syscall.CloseOnExec(fd)
		}
	}
}

func usage() error {
	return errors.New("usage: localcluster up [--no-samples] | down | status | operator-start | operator-stop | istiod-start | istiod-stop | env")
}

func run(args []string) error {
	if len(args) == 0 {
		return usage()
	}
	cmd, rest := args[0], args[1:]
	cfg, err := configFromEnv()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch cmd {
	case "up":
		samples := true
		for _, a := range rest {
			if a != "--no-samples" {
				return fmt.Errorf("unknown flag %s", a)
			}
			samples = false
		}
		return cluster.Up(ctx, cfg, samples)
	case "down":
		return cluster.Down(ctx, cfg)
	case "status":
		return cluster.Status(ctx, cfg)
	case "operator-start":
		return cluster.OperatorStart(ctx, cfg)
	case "operator-stop":
		return cluster.OperatorStop(ctx, cfg)
	case "istiod-start":
		return cluster.IstiodStart(ctx, cfg)
	case "istiod-stop":
		return cluster.IstiodStop(cfg, false)
	case "env":
		fmt.Printf("export KUBECONFIG=%s\n", filepath.Join(cfg.Dir, "kubeconfig"))
		return nil
	default:
		return usage()
	}
}

func configFromEnv() (cluster.Config, error) {
	root, err := repoRoot()
	if err != nil {
		return cluster.Config{}, err
	}
	dir := os.Getenv("VIRTMESH_LOCAL_DIR")
	if dir == "" {
		dir = filepath.Join(root, ".local", "cluster")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(root, dir)
	}
	wait := 300 * time.Second
	if v := os.Getenv("VIRTMESH_WAIT_TIMEOUT"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil {
			return cluster.Config{}, fmt.Errorf("VIRTMESH_WAIT_TIMEOUT: %w", err)
		}
	}
	return cluster.Config{
		Repo:         root,
		Bin:          filepath.Join(root, "bin"),
		Dir:          filepath.Clean(dir),
		Name:         envOr("VIRTMESH_CLUSTER_NAME", "virtmesh"),
		Nodes:        os.Getenv("VIRTMESH_NODES"),
		SkipBuild:    os.Getenv("VIRTMESH_SKIP_BUILD") == "1",
		WaitTimeout:  wait,
		LeaderElect:  os.Getenv("VIRTMESH_LEADER_ELECT") == "1",
		OperatorAs:   os.Getenv("VIRTMESH_OPERATOR_AS"),
		ManagerBin:   os.Getenv("VIRTMESH_MANAGER_BIN"),
		ManagerArgs:  os.Getenv("VIRTMESH_MANAGER_ARGS"),
		ManagerID:    os.Getenv("VIRTMESH_MANAGER_ID"),
		KwokLogLevel: os.Getenv("VIRTMESH_KWOK_LOG_LEVEL"),
		HostIstiod:   os.Getenv("VIRTMESH_HOST_ISTIOD") != "0",
		Out:          os.Stderr,
	}, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// repoRoot is VIRTMESH_REPO (set by hack/local-cluster.sh) or the first
// directory above the working directory with VirtMesh's go.mod.
func repoRoot() (string, error) {
	if r := os.Getenv("VIRTMESH_REPO"); r != "" {
		return filepath.Abs(r)
	}
	return repo.RootFromWorkingDir()
}
