package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
)

// Config is how the cluster was asked for (hack/local-cluster.sh's
// environment variables; see main.go).
type Config struct {
	Repo, Bin string
	// Dir is the work directory (VIRTMESH_LOCAL_DIR).
	Dir string
	// Name is the cluster's name (VIRTMESH_CLUSTER_NAME): the kwok
	// cluster's; the real node is called <Name>-node.
	Name string
	// Nodes is VIRTMESH_NODES (see ChooseMode).
	Nodes     string
	SkipBuild bool
	// WaitTimeout bounds the samples' waits.
	WaitTimeout time.Duration
	// Kwok mode's operator, a host process.
	LeaderElect bool
	OperatorAs  string
	ManagerBin  string
	ManagerArgs string
	// ManagerID names a further operator replica (VIRTMESH_MANAGER_ID):
	// operator-start/-stop then act on manager-<id>.pid and .log; down
	// stops every replica.
	ManagerID    string
	KwokLogLevel string
	// HostIstiod runs the real istiod on this host for a kwok cluster's
	// istio-system/istiod (VIRTMESH_HOST_ISTIOD, on unless "0").
	HostIstiod bool
	Out        io.Writer
}

// State is what `up` chose, in the work directory (cluster.json), for
// status, down and the tests.
type State struct {
	Mode   Mode   `json:"mode"`
	Reason string `json:"reason"`
	// Real node.
	Node    *nodecfg.Node   `json:"node,omitempty"`
	Images  *nodecfg.Images `json:"images,omitempty"`
	Started time.Time       `json:"started"`
	// Kwok.
	KwokNodes int `json:"kwokNodes,omitempty"`
}

// ReadState reads the work directory's cluster.json.
func ReadState(dir string) (State, error) {
	var s State
	b, err := os.ReadFile(nodecfg.Layout{Dir: dir}.State())
	if err != nil {
		return s, err
	}
	err = json.Unmarshal(b, &s)
	return s, err
}

func writeState(l nodecfg.Layout, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return WriteFile(l.State(), append(b, '\n'), 0o644)
}

// Up brings the cluster up (or reuses a running one) and, with samples,
// applies the samples and shows them working.
func Up(ctx context.Context, cfg Config, samples bool) error {
	start := time.Now()
	layout := nodecfg.Layout{Dir: cfg.Dir}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return err
	}
	verbose, err := openLog(layout)
	if err != nil {
		return err
	}
	defer verbose.Close()
	e := &Env{Repo: cfg.Repo, Bin: cfg.Bin, Layout: layout, Out: cfg.Out, Verbose: verbose}

	choice, err := ChooseMode(cfg.Nodes, runtime.GOOS, os.Geteuid())
	if err != nil {
		return err
	}
	if prev, err := ReadState(cfg.Dir); err == nil && prev.Mode != choice.Mode && host.Exists(layout.Journal()) {
		return fmt.Errorf("a %s cluster runs in %s; stop it first (make stop-local) to start a %s one", prev.Mode, cfg.Dir, choice.Mode)
	}
	e.Logf("mode: %s node(s) — %s", choice.Mode, choice.Reason)
	e.Logf("work directory %s; details of every step in %s", cfg.Dir, layout.Log("up"))
	switch choice.Mode {
	case RealNode:
		err = upReal(ctx, e, cfg, choice, samples)
	default:
		err = upKwok(ctx, e, cfg, choice, samples)
	}
	if err != nil {
		return err
	}
	e.Logf("up in %s", time.Since(start).Round(100*time.Millisecond))
	return nil
}

func openLog(l nodecfg.Layout) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(l.Log("up")), 0o755); err != nil {
		return nil, err
	}
	return os.OpenFile(l.Log("up"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
}

// step runs f as one progress line: "<what>: done in 1.2s".
func (e *Env) step(what string, f func() error) error {
	fmt.Fprintf(e.Verbose, "%s --- %s\n", time.Now().Format(time.TimeOnly), what)
	start := time.Now()
	if err := f(); err != nil {
		e.Logf("%s: FAILED after %s", what, time.Since(start).Round(100*time.Millisecond))
		return fmt.Errorf("%s: %w", what, err)
	}
	e.Logf("%s: done in %s", what, time.Since(start).Round(100*time.Millisecond))
	return nil
}

// runComponents starts and readies each component in order.
func runComponents(ctx context.Context, e *Env, cs []Component, timeout time.Duration) error {
	for _, c := range cs {
		err := e.step(c.Name(), func() error {
			for _, s := range c.Undo(e) {
				if err := e.Record(c.Name(), s); err != nil {
					return err
				}
			}
			if err := c.Start(ctx, e); err != nil {
				return err
			}
			rctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			return c.Ready(rctx, e)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Down replays the teardown journal and removes the work directory. It
// works after a crash of `up` or of any component, and when there is
// nothing to stop.
func Down(_ context.Context, cfg Config) error {
	layout := nodecfg.Layout{Dir: cfg.Dir}
	logf := func(format string, args ...any) {
		fmt.Fprintf(cfg.Out, "[local-cluster] "+format+"\n", args...)
	}
	start := time.Now()
	st, stErr := ReadState(cfg.Dir)
	var errs []error
	if host.Exists(layout.Journal()) {
		steps, done, err := journal.Read(layout.Journal())
		if err == nil {
			logf("down: undoing %d recorded step(s) of the %s cluster in %s", len(steps)-len(done), or(string(st.Mode), "unknown"), cfg.Dir)
		}
		quiet := func(format string, args ...any) {
			if os.Getenv("VIRTMESH_DOWN_VERBOSE") == "1" {
				logf(format, args...)
			}
		}
		if err := journal.Replay(layout.Journal(), host.Undo, quiet); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := host.RemoveAll(cfg.Dir); err != nil {
			errs = append(errs, err)
		}
		_ = os.Remove(filepath.Join(cfg.Repo, ".local")) // only when empty
	}
	if stErr == nil && st.Mode == RealNode {
		if left := Leftovers(cfg.Dir, st); len(left) > 0 {
			errs = append(errs, fmt.Errorf("left on the host: %s", strings.Join(left, "; ")))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("down: %w (the journal %s is kept: run down again)", errors.Join(errs...), layout.Journal())
	}
	logf("down: removed %s in %s", cfg.Dir, time.Since(start).Round(100*time.Millisecond))
	return nil
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Leftovers lists what a real node of work directory dir may have left:
// its processes, mounts, bridge and iptables chains, kubepods cgroups.
func Leftovers(dir string, st State) []string {
	var out []string
	procs, _ := host.Processes()
	for _, p := range procs {
		if p.PID != os.Getpid() && host.NamesPath(strings.Join(p.Args, " "), dir) {
			out = append(out, "process "+p.String())
		}
	}
	if pids, _ := host.CgroupPIDs("kubepods"); len(pids) > 0 {
		out = append(out, fmt.Sprintf("processes in kubepods cgroups: %v", pids))
	}
	if ms, _ := host.MountsUnder(dir); len(ms) > 0 {
		out = append(out, "mounts "+strings.Join(ms, ", "))
	}
	if st.Node != nil {
		if links, _ := host.Links(); contains(links, st.Node.Network.Bridge) {
			out = append(out, "bridge "+st.Node.Network.Bridge)
		}
	}
	for _, cmd := range host.IPTablesCommands {
		for _, t := range host.IPTablesTables {
			rules, _ := host.IPTablesRules(cmd, t)
			for _, r := range rules {
				if strings.HasPrefix(r, "-N KUBE-") || strings.HasPrefix(r, "-N CNI-") {
					out = append(out, cmd+" -t "+t+" "+r)
				}
			}
		}
	}
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// defaultRouteIface reads /proc/net/route for the default route's device.
func defaultRouteIface() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 2 && fields[1] == "00000000" {
			return fields[0]
		}
	}
	return ""
}
