package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
)

// RealNodeBins are the binaries the real node runs, built into bin/ by
// hack/build-bins.sh.
var RealNodeBins = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kustomize", "kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "ctr"}

// Host tools the real node uses, with the Debian package that has them.
var realNodeTools = map[string]string{
	"/usr/sbin/runc":             "runc",
	"/usr/lib/cni/bridge":        "containernetworking-plugins",
	"/usr/lib/cni/host-local":    "containernetworking-plugins",
	"/usr/lib/cni/loopback":      "containernetworking-plugins",
	"/usr/sbin/iptables":         "iptables",
	"/usr/sbin/ip6tables":        "iptables",
	"/usr/bin/nsenter":           "util-linux",
	"/usr/bin/mount":             "mount",
	"/usr/sbin/iptables-save":    "iptables",
	"/usr/sbin/iptables-restore": "iptables",
}

// RealNodeComponents are the real node's parts in the order they start
// (and, reversed, the order the teardown undoes them).
func RealNodeComponents(idx ImageIndex) []Component {
	return []Component{
		PKI{}, Etcd{}, APIServer{}, ControllerManager{}, Scheduler{},
		CNI{}, Containerd{}, Images{Index: idx}, Kubelet{}, KubeProxy{},
		CoreDNS{}, Operator{},
	}
}

// workDirUnmount is recorded first, so it is undone last: whatever is
// still mounted in the work directory.
func workDirUnmount(dir string) journal.Step { return journal.Step{Kind: journal.Unmount, Path: dir} }

// buildReal installs the Debian packages and builds the binaries and images
// of the real node (each cached: a warm run takes seconds).
func buildReal(ctx context.Context, e *Env) error {
	steps := []struct {
		what string
		args []string
	}{
		{"Debian packages (hack/install-packages.sh test node)", []string{"hack/install-packages.sh", "test", "node"}},
		{"pinned binaries (hack/build-bins.sh; cold: ~15 min on 2 cores)", append([]string{"hack/build-bins.sh"}, RealNodeBins...)},
		{"images (go run ./hack/images: operator, launcher, guest, istiod, stand-ins, CoreDNS)", []string{"go", "run", "./hack/images"}},
	}
	for _, s := range steps {
		if err := e.step("build: "+s.what, func() error {
			_, err := e.Run(ctx, nil, s.args[0], s.args[1:]...)
			return err
		}); err != nil {
			return err
		}
	}
	return nil
}

// preflightReal checks that this host can run the node, naming the command
// that fixes what is missing.
func preflightReal(e *Env) error {
	var missingPkgs []string
	for path, pkg := range realNodeTools {
		if _, err := os.Stat(path); err != nil && !contains(missingPkgs, pkg) {
			missingPkgs = append(missingPkgs, pkg)
		}
	}
	if len(missingPkgs) > 0 {
		return fmt.Errorf("missing Debian packages: %s; run: apt-get install -y --no-install-recommends %s (or hack/install-packages.sh test node)", strings.Join(missingPkgs, ", "), strings.Join(missingPkgs, " "))
	}
	var missingBins []string
	for _, b := range RealNodeBins {
		if _, err := os.Stat(filepath.Join(e.Bin, b)); err != nil {
			missingBins = append(missingBins, b)
		}
	}
	if len(missingBins) > 0 {
		return fmt.Errorf("bin/ lacks %s: run hack/build-bins.sh %s", strings.Join(missingBins, ", "), strings.Join(missingBins, " "))
	}
	roots, err := host.CgroupRoots()
	if err != nil || len(roots) == 0 {
		return fmt.Errorf("no cgroup filesystem is mounted (%v): the kubelet needs cgroups", err)
	}
	return nil
}

// OtherNode describes a node (kubelet, containerd, kube-proxy) already
// running on this host outside work directory dir, or "" when there is
// none: two nodes would fight over iptables, cgroups and /run/containerd.
func OtherNode(dir string) string {
	procs, _ := host.Processes()
	for _, p := range procs {
		switch p.Name() {
		case "kubelet", "kube-proxy", "containerd":
			if !host.NamesPath(strings.Join(p.Args, " "), dir) {
				return p.String()
			}
		}
	}
	if rules, _ := host.IPTablesRules("iptables", "nat"); contains(rules, "-N KUBE-SERVICES") {
		return "iptables chain KUBE-SERVICES (kube-proxy's) exists"
	}
	if pids, _ := host.CgroupPIDs("kubepods"); len(pids) > 0 {
		return fmt.Sprintf("processes %v run in kubepods cgroups", pids)
	}
	return ""
}

// realHealthy reports whether the real cluster of e answers and its node
// is Ready.
func realHealthy(ctx context.Context, e *Env) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := e.Kubectl(ctx, nil, "get", "node", e.Node.Name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
	return err == nil && strings.TrimSpace(out) == "True"
}

func upReal(ctx context.Context, e *Env, cfg Config, choice Choice, samples bool) error {
	if prev, err := ReadState(cfg.Dir); err == nil && prev.Mode == RealNode && prev.Node != nil && host.Exists(e.Layout.Journal()) {
		e.Node, e.Images = *prev.Node, *prev.Images
		if realHealthy(ctx, e) {
			e.Logf("reusing the running cluster (node %s Ready)", e.Node.Name)
			if samples {
				return realSamples(ctx, e, cfg)
			}
			return nil
		}
		e.Logf("the cluster in %s does not answer: tearing it down first", cfg.Dir)
		if err := Down(ctx, cfg); err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return err
		}
		verbose, err := openLog(e.Layout)
		if err != nil {
			return err
		}
		e.Verbose = verbose
	}
	if !cfg.SkipBuild {
		if err := buildReal(ctx, e); err != nil {
			return err
		}
	}
	if err := preflightReal(e); err != nil {
		return err
	}
	if other := OtherNode(cfg.Dir); other != "" {
		return fmt.Errorf("another node runs on this host (%s): stop it first (make stop-local, or its own down), or use NODES=kwok", other)
	}
	idx, err := ReadImageIndex(cfg.Bin)
	if err != nil {
		return fmt.Errorf("%w: run make images", err)
	}
	images, err := idx.LocalImages()
	if err != nil {
		return err
	}
	defIface, ifaces, err := HostIfaces()
	if err != nil {
		return err
	}
	nodeIP, err := NodeIP(defIface, ifaces)
	if err != nil {
		return err
	}
	ports, err := FreePorts(9)
	if err != nil {
		return err
	}
	runc, _ := exec.LookPath("runc")
	if runc == "" {
		runc = "/usr/sbin/runc"
	}
	e.Node = nodecfg.Node{
		Layout:  e.Layout,
		Network: nodecfg.DefaultNetwork(nodeIP),
		Ports: nodecfg.Ports{EtcdClient: ports[0], EtcdPeer: ports[1], APIServer: ports[2], ControllerManager: ports[3], Scheduler: ports[4],
			Kubelet: ports[5], KubeletHealthz: ports[6], KubeProxyHealthz: ports[7], KubeProxyMetrics: ports[8]},
		Name:         cfg.Name + "-node",
		CNIBinDir:    "/usr/lib/cni",
		Runc:         runc,
		SandboxImage: images.Pause,
		ResolvConf:   "/etc/resolv.conf",
	}
	e.Images = images
	if err := writeState(e.Layout, State{Mode: RealNode, Reason: choice.Reason, Node: &e.Node, Images: &images, Started: time.Now()}); err != nil {
		return err
	}
	j, err := journal.Open(e.Layout.Journal())
	if err != nil {
		return err
	}
	defer j.Close()
	e.Journal = j
	// Last to undo: whatever is still mounted in the work directory.
	if err := e.Record("local-cluster", workDirUnmount(cfg.Dir)); err != nil {
		return err
	}
	e.Logf("node %s at %s (its InternalIP), API server %s", e.Node.Name, nodeIP, e.Node.APIServerURL())
	if err := runComponents(ctx, e, RealNodeComponents(idx), 3*time.Minute); err != nil {
		return fmt.Errorf("%w\nthe cluster is left as it is for a look (logs in %s); make stop-local removes it", err, e.Layout.Path("logs"))
	}
	if samples {
		return realSamples(ctx, e, cfg)
	}
	return nil
}
