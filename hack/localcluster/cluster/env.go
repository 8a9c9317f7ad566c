// Package cluster brings the local cluster up and down. It is made of small
// components (etcd, the API server, containerd, the kubelet, CoreDNS, the
// operator, ...), each knowing how to start, when it is ready, and what it
// must record in the teardown journal before it changes the host.
package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
	"virtmesh.io/virtmesh/internal/logtail"
)

// Component is one part of the cluster.
type Component interface {
	// Name is what the progress lines and the journal call it.
	Name() string
	// Undo lists how to undo everything Start is about to do to the host,
	// in the order of doing it (the journal replays newest first). It is
	// recorded before Start runs; every step must be idempotent.
	Undo(e *Env) []journal.Step
	// Start does it: writes its config, starts its process, applies
	// manifests.
	Start(ctx context.Context, e *Env) error
	// Ready returns once the component serves, or an error saying why not
	// (with the end of its log).
	Ready(ctx context.Context, e *Env) error
}

// Env is what components share.
type Env struct {
	// Repo is the repository root; Bin its bin/ directory.
	Repo, Bin string
	Layout    nodecfg.Layout
	Node      nodecfg.Node
	Images    nodecfg.Images
	Journal   *journal.Journal
	// Out gets the few progress lines a person reads; Verbose (the up log)
	// gets the noise: command output, full errors.
	Out     io.Writer
	Verbose io.Writer

	mu      sync.Mutex
	daemons map[string]*daemon
}

// daemon is a process a component started in this run.
type daemon struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// Logf prints a progress line.
func (e *Env) Logf(format string, args ...any) {
	fmt.Fprintf(e.Out, "[local-cluster] "+format+"\n", args...)
	if e.Verbose != nil && e.Verbose != e.Out {
		fmt.Fprintf(e.Verbose, "%s [local-cluster] "+format+"\n", append([]any{time.Now().Format(time.TimeOnly)}, args...)...)
	}
}

// Record writes an undo step for component into the journal.
func (e *Env) Record(component string, s journal.Step) error {
	return e.Journal.Record(component, s)
}

// path puts bin/ first, then the usual system directories (iptables, runc,
// mount live in sbin, which a user's PATH may lack), then the caller's PATH:
// the build steps need the go it found (e.g. /usr/local/go/bin).
func (e *Env) path() string {
	p := e.Bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	if caller := os.Getenv("PATH"); caller != "" {
		p += ":" + caller
	}
	return p
}

// StartDaemon starts bin with args as a process of its own session that
// outlives `up`, its output in logs/<name>.log. Its arguments must name
// the work directory: the teardown finds it by that (stopDaemonStep).
func (e *Env) StartDaemon(name, bin string, args []string) error {
	return e.startDaemon(name, bin, args, daemonOpts{})
}

// daemonOpts override where a daemon's log and pid file go and add to its
// environment.
type daemonOpts struct {
	log, pid string
	env      []string
}

func (e *Env) startDaemon(name, bin string, args []string, o daemonOpts) error {
	if o.log == "" {
		o.log = e.Layout.Log(name)
	}
	if o.pid == "" {
		o.pid = e.Layout.Path("pids", name+".pid")
	}
	if !host.NamesPath(strings.Join(args, " "), e.Layout.Dir) {
		return fmt.Errorf("%s: its arguments must name the work directory %s (the teardown finds it by that)", name, e.Layout.Dir)
	}
	if err := os.MkdirAll(filepath.Dir(o.log), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(o.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s %s %s\n", time.Now().UTC().Format(time.RFC3339), bin, strings.Join(args, " "))
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(append(os.Environ(), "PATH="+e.path()), o.env...)
	cmd.Dir = e.Layout.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	logf.Close()
	d := &daemon{name: name, cmd: cmd, done: make(chan struct{}), log: o.log}
	go func() { d.err = cmd.Wait(); close(d.done) }()
	e.mu.Lock()
	if e.daemons == nil {
		e.daemons = map[string]*daemon{}
	}
	e.daemons[name] = d
	e.mu.Unlock()
	return WriteFile(o.pid, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
}

// exited reports, for a daemon started in this run, that it has exited.
func (e *Env) exited(name string) error {
	e.mu.Lock()
	d := e.daemons[name]
	e.mu.Unlock()
	if d == nil {
		return nil
	}
	select {
	case <-d.done:
		return fmt.Errorf("%s exited (%v); its log %s ends with:\n%s", name, d.err, d.log, tailFile(d.log, 25))
	default:
		return nil
	}
}

// LogTail is the end of a component's log.
func (e *Env) LogTail(name string, lines int) string {
	e.mu.Lock()
	d := e.daemons[name]
	e.mu.Unlock()
	if d != nil {
		return tailFile(d.log, lines)
	}
	return tailFile(e.Layout.Log(name), lines)
}

func tailFile(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "    " + strings.Join(ls, "\n    ")
}

// Poll calls check every interval until it returns nil, the daemon name (if
// any) exits, or ctx ends; the error says what was last seen.
func (e *Env) Poll(ctx context.Context, name, what string, interval time.Duration, check func(ctx context.Context) error) error {
	var last error
	for {
		if err := e.exited(name); err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			msg := fmt.Sprintf("%s: not %s: %v", name, what, last)
			if name != "" {
				msg += "\n" + e.LogTail(name, 25)
			}
			return errors.New(msg)
		case <-time.After(interval):
		}
	}
}

// Run runs a command to completion, its output to the verbose log; the
// error carries the output's end.
func (e *Env) Run(ctx context.Context, stdin []byte, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "PATH="+e.path())
	cmd.Dir = e.Repo
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if e.Verbose != nil {
		fmt.Fprintf(e.Verbose, "%s $ %s %s\n", time.Now().Format(time.TimeOnly), name, strings.Join(args, " "))
	}
	err := cmd.Run()
	if e.Verbose != nil {
		_, _ = e.Verbose.Write(out.Bytes())
	}
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), strings.Join(args, " "), err, logtail.Last(out.String(), 20))
	}
	return out.String(), nil
}

// Kubectl runs bin/kubectl with the admin kubeconfig.
func (e *Env) Kubectl(ctx context.Context, stdin []byte, args ...string) (string, error) {
	return e.Run(ctx, stdin, filepath.Join(e.Bin, "kubectl"), append([]string{"--kubeconfig", e.Layout.Kubeconfig()}, args...)...)
}

// WriteFile writes a file below the work directory, creating its directory.
func WriteFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, mode)
}

// httpOK is a readiness check: GET url answers 200 (TLS unverified: the
// components' serving certificates are self-signed).
func httpOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// FreePorts returns n distinct TCP ports free on every address right now.
func FreePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
