package kwokcluster

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

// component is a running control-plane process as kwokctl started it: its
// command line and working directory, enough to start it again.
type component struct {
	name string
	pid  int
	argv []string
	dir  string
}

func (c *Cluster) kwokDir() string {
	return filepath.Join(c.opts.Dir, "kwok", "clusters", c.opts.Name)
}

// readComponent reads name's pid file and the process's command line.
func (c *Cluster) readComponent(name string) (component, error) {
	pidFile := filepath.Join(c.kwokDir(), "pids", name+".pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return component{}, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return component{}, fmt.Errorf("%s: %w", pidFile, err)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return component{}, fmt.Errorf("%s pid %d: %w", name, pid, err)
	}
	dir, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return component{}, err
	}
	argv := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(argv) == 0 || !strings.HasSuffix(argv[0], name) {
		return component{}, fmt.Errorf("pid %d is not %s: %q", pid, name, argv)
	}
	return component{name: name, pid: pid, argv: argv, dir: dir}, nil
}

// start runs the component again in the background (its own session, like
// kwokctl starts it, so kwokctl delete stops it), logging where it did.
func (c *Cluster) start(comp component) (int, error) {
	logFile, err := os.OpenFile(filepath.Join(c.kwokDir(), "logs", comp.name+".log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return 0, err
	}
	defer func() { _ = logFile.Close() }()
	cmd := exec.Command(comp.argv[0], comp.argv[1:]...)
	cmd.Dir = comp.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	// Reap it if it exits while we run; it outlives us otherwise.
	go func() { _ = cmd.Wait() }()
	return pid, os.WriteFile(filepath.Join(c.kwokDir(), "pids", comp.name+".pid"), []byte(strconv.Itoa(pid)), 0o644)
}

// APIServer is a killed kube-apiserver that Start runs again with the same
// command line, working directory and log file; etcd and the operator keep
// running meanwhile. It also remembers the components that talk to it
// (kube-controller-manager, kube-scheduler, kwok-controller): the first two
// exit when they cannot renew their leader lease for 10 s, and in a real
// cluster their kubelet restarts them (RestartExited).
type APIServer struct {
	c      *Cluster
	self   component
	others []component
}

// clients are the components that exit, by design, when the API server is
// gone longer than their leader election's renew deadline.
var clients = []string{"kube-controller-manager", "kube-scheduler", "kwok-controller"}

// StopAPIServer kills kube-apiserver (SIGKILL: a crash; it keeps no state
// of its own, etcd has it all) and returns how to start it again. A
// graceful stop is not used: it drains long-running requests (the watches)
// for 20 s and more here, which would turn "stopped for 10 s" into 30 s.
func (c *Cluster) StopAPIServer() (*APIServer, error) {
	self, err := c.readComponent("kube-apiserver")
	if err != nil {
		return nil, err
	}
	a := &APIServer{c: c, self: self}
	for _, name := range clients {
		comp, err := c.readComponent(name)
		if err != nil {
			return nil, err
		}
		a.others = append(a.others, comp)
	}
	if err := syscall.Kill(self.pid, syscall.SIGKILL); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(self.pid, 0) == nil; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("kube-apiserver pid %d still alive 10 s after SIGKILL", self.pid)
		}
	}
	return a, nil
}

// Start runs kube-apiserver again and waits for /readyz.
func (a *APIServer) Start(ctx context.Context) error {
	if _, err := a.c.start(a.self); err != nil {
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

// RestartExited starts again, as their kubelet would, the components that
// exited since StopAPIServer, and returns their names.
func (a *APIServer) RestartExited() ([]string, error) {
	var restarted []string
	for _, comp := range a.others {
		if syscall.Kill(comp.pid, 0) == nil {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", comp.pid)); err == nil && len(b) > 0 {
				continue // still running (not a zombie)
			}
		}
		if _, err := a.c.start(comp); err != nil {
			return restarted, fmt.Errorf("restart %s: %w", comp.name, err)
		}
		restarted = append(restarted, comp.name)
	}
	return restarted, nil
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
