package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"virtmesh.io/virtmesh/hack/localcluster/host"
)

// Status prints the mode, whether each part runs, and the cluster's objects.
func Status(ctx context.Context, cfg Config) error {
	out := cfg.Out
	e := &Env{Repo: cfg.Repo, Bin: cfg.Bin, Layout: Layoutof(cfg), Out: cfg.Out}
	st, err := ReadState(cfg.Dir)
	if err != nil {
		fmt.Fprintf(out, "cluster: none in %s\n", cfg.Dir)
		return nil
	}
	fmt.Fprintf(out, "cluster: %s mode since %s (%s)\nwork directory: %s\n", st.Mode, st.Started.Format("15:04:05"), st.Reason, cfg.Dir)
	pidfiles, _ := filepath.Glob(e.Layout.Path("pids", "*.pid"))
	if st.Mode == Kwok {
		pidfiles = append(pidfiles, managerPIDFile(cfg.Dir, cfg.ManagerID), istiodPIDFile(cfg.Dir))
	}
	sort.Strings(pidfiles)
	for _, f := range pidfiles {
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintf(out, "  %-24s not running\n", name)
			continue
		}
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		state := "not running"
		if pid > 0 && host.Alive(pid, 0) {
			state = fmt.Sprintf("running (pid %d)", pid)
		}
		fmt.Fprintf(out, "  %-24s %s\n", name, state)
	}
	if kwokRunning(ctx, e) || st.Mode == RealNode {
		objs, err := e.Kubectl(ctx, nil, "get", "nodes,mcp,mvm,mvmi,pods", "-A", "-o", "wide")
		if err != nil {
			fmt.Fprintf(out, "the API server does not answer: %v\n", err)
			return nil
		}
		fmt.Fprintln(out, objs)
	}
	fmt.Fprintf(out, "export KUBECONFIG=%s\n", e.Layout.Kubeconfig())
	return nil
}
