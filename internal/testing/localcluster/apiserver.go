package localcluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// APIServer is a stopped kube-apiserver that Start runs again with the same
// command line, working directory and log file; etcd, the other components
// and the operator keep running meanwhile.
type APIServer struct {
	c    *Cluster
	argv []string
	dir  string
}

func (c *Cluster) kwokDir() string {
	return filepath.Join(c.opts.Dir, "kwok", "clusters", c.opts.Name)
}

// StopAPIServer stops kube-apiserver (SIGTERM, SIGKILL after 20 s) and
// returns how to start it again.
func (c *Cluster) StopAPIServer() (*APIServer, error) {
	pidFile := filepath.Join(c.kwokDir(), "pids", "kube-apiserver.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return nil, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", pidFile, err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return nil, fmt.Errorf("kube-apiserver pid %d: %w", pid, err)
	}
	dir, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return nil, err
	}
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(argv) == 0 || !strings.HasSuffix(argv[0], "kube-apiserver") {
		return nil, fmt.Errorf("pid %d is not kube-apiserver: %q", pid, argv)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return &APIServer{c: c, argv: argv, dir: dir}, nil
}

// Start runs kube-apiserver again in the background (its own session, like
// kwokctl starts it, so kwokctl delete stops it) and waits for /readyz.
func (a *APIServer) Start(ctx context.Context) error {
	logFile, err := os.OpenFile(filepath.Join(a.c.kwokDir(), "logs", "kube-apiserver.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(a.argv[0], a.argv[1:]...)
	cmd.Dir = a.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	pid := cmd.Process.Pid
	// Reap it if it exits while we run; it outlives us otherwise.
	go func() { _ = cmd.Wait() }()
	if err := os.WriteFile(filepath.Join(a.c.kwokDir(), "pids", "kube-apiserver.pid"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		return err
	}
	for {
		if err := a.c.readyz(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready after restart: %w", ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *Cluster) readyz(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.Root, "bin", "kubectl"), "--kubeconfig", c.Kubeconfig, "get", "--raw", "/readyz")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%w: %s", err, out.String())
	}
	return nil
}

// Kubectl runs the pinned bin/kubectl with the admin kubeconfig.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.Root, "bin", "kubectl"), append([]string{"--kubeconfig", c.Kubeconfig}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String(), nil
}

// ComponentPIDs returns the process ids of the cluster's components
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
// kwok-controller) by name.
func (c *Cluster) ComponentPIDs() map[string]int {
	out := map[string]int{}
	dir := filepath.Join(c.kwokDir(), "pids")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return out
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".pid")
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			out[name] = pid
		}
	}
	return out
}
