package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/host"
)

// On a kwok cluster nothing runs the istiod pod, yet a MeshControlPlane is
// Ready only once istiod has made its CA and published its root: so
// bin/host-istiod runs Istio's real pilot-discovery on this host for
// istio-system/istiod (the samples' mcp/basic) and writes its readiness into
// the pod's status (docs/istio.md). Its files keep hack/local-cluster.sh's
// old names, which the docs and the suites point to.
func istiodPIDFile(dir string) string { return filepath.Join(dir, "host-istiod.pid") }
func istiodLogFile(dir string) string { return filepath.Join(dir, "istiod.log") }
func istiodDir(dir string) string     { return filepath.Join(dir, "istiod") }

// IstiodStart (re)starts host-istiod for the istiod pod in istio-system (it
// waits for the pod and follows it when the Deployment replaces it). It does
// nothing when cfg.HostIstiod is off.
func IstiodStart(ctx context.Context, cfg Config) error {
	if !cfg.HostIstiod {
		return nil
	}
	if st, err := ReadState(cfg.Dir); err == nil && st.Mode == RealNode {
		return fmt.Errorf("istiod on the host is for kwok clusters; the real node runs istiod in its pod (docs/local-cluster.md)")
	}
	e, done, err := kwokEnv(cfg)
	if err != nil {
		return err
	}
	defer done()
	for _, b := range []string{"host-istiod", "pilot-discovery"} {
		if _, err := os.Stat(filepath.Join(cfg.Bin, b)); err != nil {
			return fmt.Errorf("bin/%s is missing: go build -o bin/host-istiod ./hack/host-istiod; hack/build-bins.sh pilot-discovery", b)
		}
	}
	if err := IstiodStop(cfg, true); err != nil {
		return err
	}
	if err := os.MkdirAll(istiodDir(cfg.Dir), 0o755); err != nil {
		return err
	}
	bin := filepath.Join(cfg.Bin, "host-istiod")
	// Newest first on down: host-istiod (so it restarts nothing), then any
	// pilot-discovery it left (its arguments name its directory).
	if err := e.Record("istiod", stopDaemonStep(e, filepath.Join(cfg.Bin, "pilot-discovery"), 10*time.Second)); err != nil {
		return err
	}
	if err := e.Record("istiod", stopDaemonStep(e, bin, 15*time.Second)); err != nil {
		return err
	}
	args := []string{"--kubeconfig", e.Layout.Kubeconfig(), "--namespace", "istio-system", "--deployment", "istiod",
		"--pilot-discovery", filepath.Join(cfg.Bin, "pilot-discovery"), "--dir", istiodDir(cfg.Dir)}
	e.Logf("starting istiod on the host for the istiod pod in istio-system (log: %s, ports: %s)", istiodLogFile(cfg.Dir), filepath.Join(istiodDir(cfg.Dir), "ports"))
	return e.startDaemon("host-istiod", bin, args, daemonOpts{log: istiodLogFile(cfg.Dir), pid: istiodPIDFile(cfg.Dir)})
}

// IstiodStop stops host-istiod and the istiod it runs.
func IstiodStop(cfg Config, quiet bool) error {
	b, err := os.ReadFile(istiodPIDFile(cfg.Dir))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err == nil && host.Alive(pid, 0) {
		if !quiet {
			fmt.Fprintf(cfg.Out, "[local-cluster] stopping istiod (host-istiod pid %d)\n", pid)
		}
		if err := host.Stop(pid, 0, 15*time.Second); err != nil {
			return err
		}
	}
	if err := host.StopByArg("pilot-discovery", istiodDir(cfg.Dir), 10*time.Second); err != nil {
		return err
	}
	return os.Remove(istiodPIDFile(cfg.Dir))
}
