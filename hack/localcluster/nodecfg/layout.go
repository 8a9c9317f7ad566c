// Package nodecfg writes the local cluster's configuration: file paths in
// the work directory, the command lines of the control plane, and the
// configuration files of containerd, the CNI bridge, the kubelet,
// kube-proxy, CoreDNS, kubeconfigs and the operator's kustomize overlay.
// Everything here is pure (values in, bytes out) and pinned by golden files
// (go test ./hack/localcluster/nodecfg -update); the real-node suite
// (test/realnode) proves the consumers accept them.
package nodecfg

import (
	"fmt"
	"net"
	"path/filepath"
)

// Layout is where everything of one local cluster lives under its work
// directory (VIRTMESH_LOCAL_DIR).
type Layout struct{ Dir string }

// Path joins elements below the work directory.
func (l Layout) Path(elem ...string) string {
	return filepath.Join(append([]string{l.Dir}, elem...)...)
}

// Journal is the teardown journal.
func (l Layout) Journal() string { return l.Path("teardown.journal") }

// State records the chosen mode, ports and addresses (JSON).
func (l Layout) State() string { return l.Path("cluster.json") }

// Kubeconfig is the admin kubeconfig.
func (l Layout) Kubeconfig() string { return l.Path("kubeconfig") }

// Log is the log file of a component (or of `up` itself: "up").
func (l Layout) Log(component string) string { return l.Path("logs", component+".log") }

// PKI is a file of the cluster's PKI.
func (l Layout) PKI(name string) string { return l.Path("pki", name) }

// ComponentKubeconfig is the kubeconfig a component authenticates with.
func (l Layout) ComponentKubeconfig(component string) string {
	return l.Path("kubeconfigs", component+".kubeconfig")
}

// EtcdData is etcd's data directory.
func (l Layout) EtcdData() string { return l.Path("etcd") }

// ContainerdConfig is containerd's config.toml.
func (l Layout) ContainerdConfig() string { return l.Path("containerd", "config.toml") }

// ContainerdRoot is containerd's persistent root (content, snapshots).
func (l Layout) ContainerdRoot() string { return l.Path("containerd", "root") }

// ContainerdState is containerd's state directory (tasks, sandbox mounts).
func (l Layout) ContainerdState() string { return l.Path("containerd", "state") }

// ContainerdSocket is containerd's gRPC socket.
func (l Layout) ContainerdSocket() string { return l.Path("containerd", "containerd.sock") }

// RuncRoot is runc's state directory.
func (l Layout) RuncRoot() string { return l.Path("containerd", "runc") }

// ContainerdOpt is containerd's "opt" plugin directory.
func (l Layout) ContainerdOpt() string { return l.Path("containerd", "opt") }

// CNIConfDir holds the CNI network configuration.
func (l Layout) CNIConfDir() string { return l.Path("cni", "net.d") }

// CNIIPAMDir is host-local IPAM's lease directory.
func (l Layout) CNIIPAMDir() string { return l.Path("cni", "ipam") }

// KubeletConfig is the kubelet's KubeletConfiguration.
func (l Layout) KubeletConfig() string { return l.Path("kubelet", "config.yaml") }

// KubeletRoot is the kubelet's --root-dir.
func (l Layout) KubeletRoot() string { return l.Path("kubelet", "root") }

// KubeletPKI is the kubelet's --cert-dir.
func (l Layout) KubeletPKI() string { return l.Path("kubelet", "pki") }

// PodLogs is the kubelet's podLogsDir.
func (l Layout) PodLogs() string { return l.Path("kubelet", "pod-logs") }

// KubeProxyConfig is kube-proxy's configuration file.
func (l Layout) KubeProxyConfig() string { return l.Path("kube-proxy", "config.yaml") }

// Manifest is a manifest the cluster applies (CoreDNS, the operator overlay).
func (l Layout) Manifest(name string) string { return l.Path("manifests", name) }

// Network is the cluster's addressing.
type Network struct {
	// NodeIP is the node's InternalIP: a non-loopback address of this host
	// (the API server refuses to proxy to a node at a loopback address).
	NodeIP string
	// PodCIDR is the node's pod range (the CNI bridge hands it out).
	PodCIDR string
	// ClusterCIDR contains every pod range (kube-proxy's local traffic).
	ClusterCIDR string
	// ServiceCIDR is the Service ClusterIP range.
	ServiceCIDR string
	// ClusterDNS is the ClusterIP of kube-dns (CoreDNS).
	ClusterDNS string
	// ClusterDomain is the DNS domain of Services.
	ClusterDomain string
	// Bridge is the CNI bridge's name.
	Bridge string
}

// DefaultNetwork is the addressing of the local cluster on nodeIP.
func DefaultNetwork(nodeIP string) Network {
	return Network{
		NodeIP:        nodeIP,
		PodCIDR:       "10.244.0.0/24",
		ClusterCIDR:   "10.244.0.0/16",
		ServiceCIDR:   "10.96.0.0/16",
		ClusterDNS:    "10.96.0.10",
		ClusterDomain: "cluster.local",
		Bridge:        "virtmesh0",
	}
}

// KubernetesServiceIP is the first address of the Service range (the
// `kubernetes` Service), which the API server's certificate must name.
func (n Network) KubernetesServiceIP() (net.IP, error) {
	_, cidr, err := net.ParseCIDR(n.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	ip := cidr.IP.To4()
	if ip == nil {
		return nil, fmt.Errorf("service CIDR %s is not IPv4", n.ServiceCIDR)
	}
	out := make(net.IP, 4)
	copy(out, ip)
	out[3]++
	return out, nil
}

// Ports are the TCP ports of the host processes, chosen free at `up`.
type Ports struct {
	EtcdClient        int `json:"etcdClient"`
	EtcdPeer          int `json:"etcdPeer"`
	APIServer         int `json:"apiServer"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	Kubelet           int `json:"kubelet"`
	KubeletHealthz    int `json:"kubeletHealthz"`
	KubeProxyHealthz  int `json:"kubeProxyHealthz"`
	KubeProxyMetrics  int `json:"kubeProxyMetrics"`
}

// Node is everything the node's configuration depends on.
type Node struct {
	Layout  Layout
	Network Network
	Ports   Ports
	// Name of the node object.
	Name string
	// CNIBinDir holds the CNI plugins (Debian: /usr/lib/cni).
	CNIBinDir string
	// Runc is the OCI runtime binary.
	Runc string
	// SandboxImage is the pause image.
	SandboxImage string
	// ResolvConf is the host resolv.conf the kubelet gives dnsPolicy
	// Default pods (CoreDNS forwards to it).
	ResolvConf string
}
