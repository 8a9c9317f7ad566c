// Package kwokcluster drives hack/local-cluster.sh from Go for the suites
// and benchmarks that need a whole cluster and a real operator process: the
// fault suite (test/faults) and the scale run (test/bench/scale). The
// cluster is real etcd, kube-apiserver, kube-controller-manager and
// kube-scheduler with nodes simulated by kwok; the operator is a separate
// process (one or more replicas) run as its ServiceAccount.
//
// It adds what the script does not do: stopping and restarting the API
// server alone (etcd keeps running), scraping an operator's metrics, and
// reading its CPU time and peak RSS from /proc.
package kwokcluster

import (
	"bufio"
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
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"virtmesh.io/virtmesh/internal/logtail"
	vmscheme "virtmesh.io/virtmesh/internal/scheme"
)

// Options configure Up.
type Options struct {
	// Root is the repository root (hack/local-cluster.sh, config/).
	Root string
	// Dir holds the cluster's state (VIRTMESH_LOCAL_DIR); it is created.
	Dir string
	// Name is the kwok cluster name.
	Name string
	// Nodes is the number of fake nodes (0: the script's default).
	Nodes int
	// ManagerBin is the operator binary (VIRTMESH_MANAGER_BIN). Build it
	// with BuildManager; never into the shared bin/.
	ManagerBin string
	// ManagerArgs are extra operator flags for every replica.
	ManagerArgs []string
	// LeaderElect runs the operator with --leader-elect, as the manager
	// Deployment does.
	LeaderElect bool
	// Log receives the script's output; nil discards it.
	Log io.Writer
}

// Cluster is a running local cluster.
type Cluster struct {
	opts Options
	// Kubeconfig is the admin kubeconfig.
	Kubeconfig string
	// Config is the admin REST config (no client-side rate limit).
	Config *rest.Config
	// Client is an admin client with the operator's scheme.
	Client client.Client
}

// BuildManager builds the operator from root into out.
func BuildManager(ctx context.Context, root, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s .: %w\n%s", out, err, b)
	}
	return nil
}

// Up creates the cluster (hack/local-cluster.sh up --no-samples), which also
// starts the first operator replica.
func Up(ctx context.Context, opts Options) (*Cluster, error) {
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, Kubeconfig: filepath.Join(opts.Dir, "kubeconfig")}
	if err := c.script(ctx, nil, "up", "--no-samples"); err != nil {
		// Never leave a half-started cluster behind: its processes would
		// outlive us (and hold whatever file descriptors they inherited).
		return nil, errors.Join(err, c.Down(context.WithoutCancel(ctx)))
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS = -1
	c.Config = cfg
	c.Client, err = client.New(cfg, client.Options{Scheme: vmscheme.New()})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Down stops every operator replica and deletes the cluster and its files.
func (c *Cluster) Down(ctx context.Context) error {
	err := c.script(ctx, nil, "down")
	return errors.Join(err, os.RemoveAll(c.opts.Dir))
}

func (c *Cluster) env(extra []string) []string {
	env := append(os.Environ(),
		"VIRTMESH_LOCAL_DIR="+c.opts.Dir,
		"VIRTMESH_CLUSTER_NAME="+c.opts.Name,
		"VIRTMESH_SKIP_BUILD=1",
		"VIRTMESH_MANAGER_BIN="+c.opts.ManagerBin,
		"VIRTMESH_MANAGER_ARGS="+strings.Join(c.opts.ManagerArgs, " "),
		// No real istiod on the host: these runs measure and break the
		// operator's path, and istiod would share the machine's CPUs. A
		// MeshControlPlane is then Reconciled (its injection snapshot
		// published), never Ready.
		"VIRTMESH_HOST_ISTIOD=0",
	)
	// Always kwok: as root the local cluster would otherwise choose a
	// real node.
	nodes := "kwok"
	if c.opts.Nodes > 0 {
		nodes = fmt.Sprintf("%d", c.opts.Nodes)
	}
	env = append(env, "VIRTMESH_NODES="+nodes)
	if c.opts.LeaderElect {
		env = append(env, "VIRTMESH_LEADER_ELECT=1")
	}
	return append(env, extra...)
}

func (c *Cluster) script(ctx context.Context, env []string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.opts.Root, "hack", "local-cluster.sh"), args...)
	cmd.Dir = c.opts.Root
	cmd.Env = c.env(env)
	var buf bytes.Buffer
	out := io.Writer(&buf)
	if c.opts.Log != nil {
		out = io.MultiWriter(&buf, c.opts.Log)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hack/local-cluster.sh %s: %w\n%s", strings.Join(args, " "), err, logtail.Last(buf.String(), 30))
	}
	return nil
}

// Operator is one operator replica: "" is the one Up started, others are
// started with StartOperator.
type Operator struct {
	c  *Cluster
	ID string
	// MetricsAddr is the loopback address of its metrics endpoint, "" when
	// the replica runs without one.
	MetricsAddr string
}

// Operator returns the replica with id ("" for the first one).
func (c *Cluster) Operator(id, metricsAddr string) *Operator {
	return &Operator{c: c, ID: id, MetricsAddr: metricsAddr}
}

func (o *Operator) suffix() string {
	if o.ID == "" {
		return ""
	}
	return "-" + o.ID
}

func (o *Operator) envs() []string {
	env := []string{"VIRTMESH_MANAGER_ID=" + o.ID}
	if o.MetricsAddr != "" {
		env = append(env, "VIRTMESH_MANAGER_ARGS="+strings.Join(append(append([]string{}, o.c.opts.ManagerArgs...), "--metrics-bind-address="+o.MetricsAddr), " "))
	}
	return env
}

// Start (re)starts the replica and waits for its readiness probe.
func (o *Operator) Start(ctx context.Context) error {
	return o.c.script(ctx, o.envs(), "operator-start")
}

// Stop stops the replica (SIGTERM, then SIGKILL after 10 s).
func (o *Operator) Stop(ctx context.Context) error {
	return o.c.script(ctx, o.envs(), "operator-stop")
}

// StartOperator starts another replica with its own metrics address.
func (c *Cluster) StartOperator(ctx context.Context, id, metricsAddr string) (*Operator, error) {
	o := c.Operator(id, metricsAddr)
	err := o.Start(ctx)
	return o, err
}

// PID is the replica's process id (0 when it is not running).
func (o *Operator) PID() int {
	b, err := os.ReadFile(filepath.Join(o.c.opts.Dir, "manager"+o.suffix()+".pid"))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || syscall.Kill(pid, 0) != nil {
		return 0
	}
	return pid
}

// Kill sends SIGKILL to the replica and waits until it is gone.
func (o *Operator) Kill() error {
	pid := o.PID()
	if pid == 0 {
		return fmt.Errorf("operator%s is not running", o.suffix())
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return err
	}
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("operator pid %d still alive after SIGKILL", pid)
}

// LogPath is the replica's log file.
func (o *Operator) LogPath() string {
	return filepath.Join(o.c.opts.Dir, "manager"+o.suffix()+".log")
}

// Scrape returns the replica's metrics in the Prometheus text format.
func (o *Operator) Scrape(ctx context.Context) (Metrics, error) {
	if o.MetricsAddr == "" {
		return nil, fmt.Errorf("operator%s runs without a metrics endpoint", o.suffix())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+o.MetricsAddr+"/metrics", http.NoBody)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return ParseMetrics(resp.Body)
}

// Proc is what /proc says about a process.
type Proc struct {
	// CPUSeconds is user + system time.
	CPUSeconds float64
	// PeakRSSMiB is VmHWM, the largest resident set since the process started.
	PeakRSSMiB float64
	// RSSMiB is VmRSS, the resident set now.
	RSSMiB float64
}

// ReadProc reads the CPU time and resident set of pid.
func ReadProc(pid int) (Proc, error) {
	var p Proc
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return p, err
	}
	// Fields after the command name, which ends with the last ')'.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	if len(f) < 13 {
		return p, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	p.CPUSeconds = (utime + stime) / clockTicks
	status, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return p, err
	}
	defer func() { _ = status.Close() }()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		switch k {
		case "VmHWM":
			p.PeakRSSMiB = kb / 1024
		case "VmRSS":
			p.RSSMiB = kb / 1024
		}
	}
	return p, sc.Err()
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// FreePort returns a free loopback address.
func FreePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
