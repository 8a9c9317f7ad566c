package cluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
)

// sysctlSteps restore each sysctl to its value now.
func sysctlSteps(names ...string) []journal.Step {
	var out []journal.Step
	for _, n := range names {
		v, err := host.ReadSysctl(n)
		if err != nil {
			continue // not on this kernel
		}
		out = append(out, journal.Step{Kind: journal.RestoreSysctl, Name: n, Value: v})
	}
	return out
}

// outsideDirStep removes what appears in dir, outside the work directory
// (entries matching pattern): what is there now stays, and the directory
// goes if it does not exist now.
func outsideDirStep(dir, pattern string) journal.Step {
	return journal.Step{Kind: journal.RemoveNewEntries, Path: dir, Pattern: pattern, Keep: host.Entries(dir), Existed: host.Exists(dir)}
}

// stopDaemonStep stops every process named like bin whose arguments name
// the work directory: recorded before the start, it also finds a daemon
// whose pid was never written (a crash right after the start).
func stopDaemonStep(e *Env, bin string, grace time.Duration) journal.Step {
	return journal.Step{Kind: journal.StopProcessesByArg, Name: filepath.Base(bin), Arg: e.Layout.Dir, Grace: grace}
}

// CNI is the pod network: a bridge with host-local IPAM, run by containerd
// for each pod. It writes only its configuration; the plugins, run later,
// make the bridge, veths, CNI-* masquerade chains, a cache in /var/lib/cni
// and turn on IPv4 forwarding, so that is what it must undo.
type CNI struct{}

// Name implements Component.
func (CNI) Name() string { return "cni" }

// Undo implements Component.
func (CNI) Undo(e *Env) []journal.Step {
	steps := sysctlSteps("net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv4/conf/default/forwarding", "net/ipv6/conf/all/forwarding")
	return append(steps,
		outsideDirStep("/var/lib/cni", ""),
		journal.Step{Kind: journal.DeleteIPTablesChains, Prefix: "CNI-"},
		journal.Step{Kind: journal.DeleteLink, Name: e.Node.Network.Bridge},
	)
}

// Start implements Component.
func (CNI) Start(_ context.Context, e *Env) error {
	if err := os.MkdirAll(e.Layout.CNIIPAMDir(), 0o755); err != nil {
		return err
	}
	return WriteFile(filepath.Join(e.Layout.CNIConfDir(), nodecfg.CNIConfigName), nodecfg.CNIConfig(e.Node), 0o644)
}

// Ready implements Component.
func (CNI) Ready(context.Context, *Env) error { return nil }

// Containerd is the container runtime.
type Containerd struct{}

// Name implements Component.
func (Containerd) Name() string { return "containerd" }

// Undo implements Component.
func (Containerd) Undo(e *Env) []journal.Step {
	return []journal.Step{
		// Shim sockets and fifos go to /run/containerd whatever the config says.
		outsideDirStep("/run/containerd", ""),
		outsideDirStep("/run/containerd/s", ""),
		outsideDirStep("/run/containerd/fifo", ""),
		// Overlay root filesystems, sandbox /dev/shm and network namespaces.
		{Kind: journal.Unmount, Path: e.Layout.Path("containerd")},
		// Shims re-parent to PID 1 and outlive containerd: find them by the
		// socket they were told to call back.
		{Kind: journal.StopProcessesByArg, Name: "containerd-shim-runc-v2", Arg: e.Layout.ContainerdSocket(), Grace: 3 * time.Second},
		stopDaemonStep(e, "containerd", 10*time.Second),
	}
}

// Start implements Component.
func (Containerd) Start(_ context.Context, e *Env) error {
	for _, d := range []string{e.Layout.ContainerdRoot(), e.Layout.ContainerdState(), e.Layout.RuncRoot(), e.Layout.ContainerdOpt()} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	if err := WriteFile(e.Layout.ContainerdConfig(), nodecfg.ContainerdConfig(e.Node), 0o644); err != nil {
		return err
	}
	return e.StartDaemon("containerd", filepath.Join(e.Bin, "containerd"), nodecfg.ContainerdArgs(e.Node))
}

// Ready implements Component.
func (Containerd) Ready(ctx context.Context, e *Env) error {
	return e.Poll(ctx, "containerd", "serving", 200*time.Millisecond, func(ctx context.Context) error {
		_, err := e.Run(ctx, nil, filepath.Join(e.Bin, "ctr"), "--address", e.Layout.ContainerdSocket(), "version")
		return err
	})
}

// ImageIndex is bin/images/index.json, written by hack/images
// (internal/imagebuild.Index): the images and their docker archives.
type ImageIndex struct {
	Images []struct {
		Name string `json:"name"`
		Ref  string `json:"ref"`
		Tar  string `json:"tar"`
		Hash string `json:"hash"`
	} `json:"images"`
}

// Ref is the reference of the image named name ("" if absent).
func (ix ImageIndex) Ref(name string) string {
	for _, i := range ix.Images {
		if i.Name == name {
			return i.Ref
		}
	}
	return ""
}

// LocalImages are the images of the local cluster by role; a missing one
// is an error naming the command that builds them.
func (ix ImageIndex) LocalImages() (nodecfg.Images, error) {
	img := nodecfg.Images{
		Operator: ix.Ref("operator"), Launcher: ix.Ref("virt-launcher"), Proxy: ix.Ref("proxy-standin"), Istiod: ix.Ref("pilot"),
		Guest: ix.Ref("guest-disk"), Productpage: ix.Ref("productpage-standin"), Pause: ix.Ref("pause"), CoreDNS: ix.Ref("coredns"),
	}
	var missing []string
	for name, ref := range map[string]string{"operator": img.Operator, "virt-launcher": img.Launcher, "proxy-standin": img.Proxy, "pilot": img.Istiod, "guest-disk": img.Guest, "productpage-standin": img.Productpage, "pause": img.Pause, "coredns": img.CoreDNS} {
		if ref == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return img, fmt.Errorf("bin/images/index.json lacks %s: run make images", strings.Join(missing, ", "))
	}
	return img, nil
}

// Images imports the local images (docker archives in bin/images) into
// containerd's k8s.io namespace, where the kubelet finds them: nothing is
// pulled from a registry.
type Images struct{ Index ImageIndex }

// Name implements Component.
func (Images) Name() string { return "images" }

// Undo implements Component: the images live in containerd's root, in the
// work directory.
func (Images) Undo(*Env) []journal.Step { return nil }

// Start implements Component.
func (i Images) Start(ctx context.Context, e *Env) error {
	for _, img := range i.Index.Images {
		tar := img.Tar
		if !filepath.IsAbs(tar) {
			tar = filepath.Join(e.Bin, "images", tar)
		}
		if _, err := e.Run(ctx, nil, filepath.Join(e.Bin, "ctr"), "--address", e.Layout.ContainerdSocket(), "-n", "k8s.io", "images", "import", tar); err != nil {
			return fmt.Errorf("import %s (%s): %w", img.Name, tar, err)
		}
	}
	return nil
}

// Ready implements Component.
func (i Images) Ready(ctx context.Context, e *Env) error {
	out, err := e.Run(ctx, nil, filepath.Join(e.Bin, "ctr"), "--address", e.Layout.ContainerdSocket(), "-n", "k8s.io", "images", "ls", "-q")
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, l := range strings.Fields(out) {
		have[l] = true
	}
	var missing []string
	for _, img := range i.Index.Images {
		if !have[img.Ref] {
			missing = append(missing, img.Name+" ("+img.Ref+")")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("containerd lacks %s after the import; it has: %s", strings.Join(missing, ", "), strings.Join(strings.Fields(out), ", "))
	}
	return nil
}

// kubeletSysctls are the sysctls the kubelet sets at start
// (setupKernelTunables), to be put back.
var kubeletSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops", "kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes"}

// Kubelet is the node agent.
type Kubelet struct{}

// Name implements Component.
func (Kubelet) Name() string { return "kubelet" }

// Undo implements Component.
func (Kubelet) Undo(e *Env) []journal.Step {
	steps := sysctlSteps(kubeletSysctls...)
	return append(steps,
		// Written outside --root-dir whatever the flags say: the device
		// plugin and pod-resources sockets in /var/lib/kubelet, container
		// log links in /var/log/containers.
		outsideDirStep("/var/lib/kubelet", ""),
		outsideDirStep("/var/log/containers", ""),
		outsideDirStep("/var/log/pods", ""),
		// KUBE-FIREWALL, KUBE-KUBELET-CANARY in every table.
		journal.Step{Kind: journal.DeleteIPTablesChains, Prefix: "KUBE-"},
		// Pod cgroups in every hierarchy (cgroupfs driver), once empty.
		journal.Step{Kind: journal.RemoveCgroups, Name: "kubepods"},
		// Projected volumes and other tmpfs of pods.
		journal.Step{Kind: journal.Unmount, Path: e.Layout.Path("kubelet")},
		// The pods' processes, QEMU included, once the kubelet is gone.
		journal.Step{Kind: journal.KillCgroupProcesses, Name: "kubepods"},
		stopDaemonStep(e, "kubelet", 10*time.Second),
	)
}

// Start implements Component.
func (Kubelet) Start(_ context.Context, e *Env) error {
	for _, d := range []string{e.Layout.KubeletRoot(), e.Layout.KubeletPKI(), e.Layout.PodLogs()} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return err
		}
	}
	if err := WriteFile(e.Layout.KubeletConfig(), nodecfg.KubeletConfig(e.Node), 0o644); err != nil {
		return err
	}
	return e.StartDaemon("kubelet", filepath.Join(e.Bin, "kubelet"), nodecfg.KubeletArgs(e.Node))
}

// Ready implements Component: the node is Ready.
func (Kubelet) Ready(ctx context.Context, e *Env) error {
	return e.Poll(ctx, "kubelet", "Ready", 500*time.Millisecond, func(ctx context.Context) error {
		out, err := e.Kubectl(ctx, nil, "get", "node", e.Node.Name, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil {
			return err
		}
		if strings.TrimSpace(out) != "True" {
			return fmt.Errorf("node %s Ready=%q", e.Node.Name, strings.TrimSpace(out))
		}
		return nil
	})
}

// kubeProxySysctls are those kube-proxy may set (conntrack, localhost
// NodePorts); the configuration asks it to leave them, and they are put
// back anyway.
var kubeProxySysctls = []string{
	"net/ipv4/conf/all/route_localnet", "net/netfilter/nf_conntrack_max",
	"net/netfilter/nf_conntrack_tcp_timeout_established", "net/netfilter/nf_conntrack_tcp_timeout_close_wait",
	"net/netfilter/nf_conntrack_tcp_be_liberal", "net/netfilter/nf_conntrack_udp_timeout", "net/netfilter/nf_conntrack_udp_timeout_stream",
	"net/bridge/bridge-nf-call-iptables", "net/bridge/bridge-nf-call-ip6tables",
}

// KubeProxy programs Services into iptables.
type KubeProxy struct{}

// Name implements Component.
func (KubeProxy) Name() string { return "kube-proxy" }

// Undo implements Component.
func (KubeProxy) Undo(e *Env) []journal.Step {
	return append(sysctlSteps(kubeProxySysctls...),
		journal.Step{Kind: journal.DeleteIPTablesChains, Prefix: "KUBE-"},
		stopDaemonStep(e, "kube-proxy", 10*time.Second))
}

// Start implements Component.
func (KubeProxy) Start(_ context.Context, e *Env) error {
	if err := WriteFile(e.Layout.KubeProxyConfig(), nodecfg.KubeProxyConfig(e.Node), 0o644); err != nil {
		return err
	}
	return e.StartDaemon("kube-proxy", filepath.Join(e.Bin, "kube-proxy"), nodecfg.KubeProxyArgs(e.Node))
}

// Ready implements Component.
func (KubeProxy) Ready(ctx context.Context, e *Env) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", e.Node.Ports.KubeProxyHealthz)
	return e.Poll(ctx, "kube-proxy", "healthy", 300*time.Millisecond, func(ctx context.Context) error { return httpOK(ctx, insecureClient, url) })
}

// loadKubeconfigCert reads the client certificate of a kubeconfig written
// by nodecfg.Kubeconfig.
func loadKubeconfigCert(path string) (tls.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return tls.Certificate{}, err
	}
	var kc struct {
		Users []struct {
			User struct {
				Cert []byte `json:"client-certificate-data"`
				Key  []byte `json:"client-key-data"`
			} `json:"user"`
		} `json:"users"`
	}
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return tls.Certificate{}, err
	}
	if len(kc.Users) == 0 {
		return tls.Certificate{}, fmt.Errorf("%s has no user", path)
	}
	return tls.X509KeyPair(kc.Users[0].User.Cert, kc.Users[0].User.Key)
}

// ReadImageIndex reads bin/images/index.json.
func ReadImageIndex(bin string) (ImageIndex, error) {
	b, err := os.ReadFile(filepath.Join(bin, "images", "index.json"))
	if err != nil {
		return ImageIndex{}, err
	}
	var idx ImageIndex
	if err := json.Unmarshal(b, &idx); err != nil {
		return ImageIndex{}, fmt.Errorf("bin/images/index.json: %w", err)
	}
	return idx, nil
}
