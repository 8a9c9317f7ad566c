package nodecfg

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"text/template"

	"sigs.k8s.io/yaml"
)

// containerdTemplate is containerd 2.x's configuration (version 3). What
// differs from the defaults, and why:
//   - root, state, the socket, runc's root and the opt plugin's directory are
//     in the work directory, so nothing of the node's state lands in
//     /var/lib/containerd, /run/containerd/runc or /opt/containerd (shim
//     sockets and fifos still go to /run/containerd: containerd hard-codes
//     them; the teardown removes them);
//   - restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE, so lowering a
//     container's oom_score_adj below containerd's fails every sandbox;
//   - netns_mounts_under_state_dir: pod network namespaces are bind-mounted in
//     the state directory instead of /run/netns;
//   - NRI (a socket in /var/run/nri) and the snapshotters this host cannot
//     use are disabled; CDI reads no host directory;
//   - the CNI plugins are Debian's (/usr/lib/cni) and the network is the
//     one in the work directory; the sandbox image is the imported pause
//     image, pinned so the kubelet's image GC never removes it.
const containerdTemplate = `# containerd configuration of the VirtMesh local cluster's node (hack/localcluster).
version = 3
root = {{q .Layout.ContainerdRoot}}
state = {{q .Layout.ContainerdState}}
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = {{q .Layout.ContainerdSocket}}

[plugins.'io.containerd.internal.v1.opt']
  path = {{q .Layout.ContainerdOpt}}

[plugins.'io.containerd.image-verifier.v1.bindir']
  bin_dir = {{q (.Layout.Path "containerd" "image-verifiers")}}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = {{q .SandboxImage}}

[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  cdi_spec_dirs = []
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = {{q .Runc}}
        Root = {{q .Layout.RuncRoot}}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [{{q .CNIBinDir}}]
    conf_dir = {{q .Layout.CNIConfDir}}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`

var containerdTmpl = template.Must(template.New("containerd").Funcs(template.FuncMap{
	// TOML basic strings share JSON's escapes.
	"q": func(s string) string { b, _ := json.Marshal(s); return string(b) },
}).Parse(containerdTemplate))

// ContainerdConfig is containerd's config.toml.
func ContainerdConfig(n Node) []byte {
	var b bytes.Buffer
	if err := containerdTmpl.Execute(&b, n); err != nil {
		panic(err) // the template and Node are fixed; a failure is a bug
	}
	return b.Bytes()
}

// CNIConfigName is the file name of the CNI network configuration.
const CNIConfigName = "10-virtmesh.conflist"

// CNIConfig is the node's pod network: a Linux bridge with the node's pod
// range from host-local IPAM (leases in the work directory), the bridge as
// the pods' gateway, and masquerading for traffic leaving the range.
func CNIConfig(n Node) []byte {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "virtmesh",
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      n.Network.Bridge,
				"isGateway":   true,
				"ipMasq":      true,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.Network.PodCIDR}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": n.Layout.CNIIPAMDir(),
				},
			},
		},
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		panic(err)
	}
	return append(b, '\n')
}

// kubeletConfig holds the KubeletConfiguration (kubelet.config.k8s.io/v1beta1)
// fields the local node sets; the names are the kubelet's.
type kubeletConfig struct {
	APIVersion                  string            `json:"apiVersion"`
	Kind                        string            `json:"kind"`
	Address                     string            `json:"address"`
	Port                        int               `json:"port"`
	ReadOnlyPort                int               `json:"readOnlyPort"`
	HealthzBindAddress          string            `json:"healthzBindAddress"`
	HealthzPort                 int               `json:"healthzPort"`
	TLSCertFile                 string            `json:"tlsCertFile"`
	TLSPrivateKeyFile           string            `json:"tlsPrivateKeyFile"`
	Authentication              map[string]any    `json:"authentication"`
	Authorization               map[string]any    `json:"authorization"`
	CgroupDriver                string            `json:"cgroupDriver"`
	FailCgroupV1                bool              `json:"failCgroupV1"`
	ContainerRuntimeEndpoint    string            `json:"containerRuntimeEndpoint"`
	ClusterDNS                  []string          `json:"clusterDNS"`
	ClusterDomain               string            `json:"clusterDomain"`
	ResolvConf                  string            `json:"resolvConf"`
	PodLogsDir                  string            `json:"podLogsDir"`
	OOMScoreAdj                 int               `json:"oomScoreAdj"`
	ImageGCHighThresholdPercent int               `json:"imageGCHighThresholdPercent"`
	ImageGCLowThresholdPercent  int               `json:"imageGCLowThresholdPercent"`
	EvictionHard                map[string]string `json:"evictionHard"`
	FailSwapOn                  bool              `json:"failSwapOn"`
	MaxPods                     int               `json:"maxPods"`
	SerializeImagePulls         bool              `json:"serializeImagePulls"`
	ProtectKernelDefaults       bool              `json:"protectKernelDefaults"`
	RotateCertificates          bool              `json:"rotateCertificates"`
}

// KubeletConfig is the kubelet's configuration file. What differs from a
// kubeadm node, and why:
//   - failCgroupV1 false and the cgroupfs driver: this host has cgroup v1
//     and no systemd;
//   - oomScoreAdj 0: root here cannot lower oom_score_adj;
//   - image GC off (100%) and near-zero eviction thresholds: the images are
//     imported, not pulled (a collected image cannot come back), and the
//     disk is shared with other work;
//   - serving certificate from the cluster's CA for the node's address,
//     clients authenticated by that CA (the API server's kubelet client) or
//     a token, authorized by the API server (Webhook);
//   - podLogsDir in the work directory (the default is /var/log/pods).
func KubeletConfig(n Node) []byte {
	c := kubeletConfig{
		APIVersion:         "kubelet.config.k8s.io/v1beta1",
		Kind:               "KubeletConfiguration",
		Address:            n.Network.NodeIP,
		Port:               n.Ports.Kubelet,
		ReadOnlyPort:       0,
		HealthzBindAddress: "127.0.0.1",
		HealthzPort:        n.Ports.KubeletHealthz,
		TLSCertFile:        n.Layout.PKI(KubeletServingCert),
		TLSPrivateKeyFile:  n.Layout.PKI(KubeletServingKey),
		Authentication: map[string]any{
			"anonymous": map[string]any{"enabled": false},
			"webhook":   map[string]any{"enabled": true},
			"x509":      map[string]any{"clientCAFile": n.Layout.PKI(CACert)},
		},
		Authorization:               map[string]any{"mode": "Webhook"},
		CgroupDriver:                "cgroupfs",
		FailCgroupV1:                false,
		ContainerRuntimeEndpoint:    "unix://" + n.Layout.ContainerdSocket(),
		ClusterDNS:                  []string{n.Network.ClusterDNS},
		ClusterDomain:               n.Network.ClusterDomain,
		ResolvConf:                  n.ResolvConf,
		PodLogsDir:                  n.Layout.PodLogs(),
		OOMScoreAdj:                 0,
		ImageGCHighThresholdPercent: 100,
		ImageGCLowThresholdPercent:  99,
		EvictionHard: map[string]string{
			"memory.available":  "100Mi",
			"nodefs.available":  "1%",
			"nodefs.inodesFree": "1%",
			"imagefs.available": "1%",
		},
		FailSwapOn:            false,
		MaxPods:               110,
		SerializeImagePulls:   false,
		ProtectKernelDefaults: false,
		RotateCertificates:    false,
	}
	return marshalYAML(c)
}

// KubeProxyConfig is kube-proxy's configuration (iptables mode). It
// changes no host sysctl: conntrack sizes and timeouts are left as they
// are (0) and localhost NodePorts are off (they need route_localnet=1 on
// every interface).
func KubeProxyConfig(n Node) []byte {
	c := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"clientConnection":   map[string]any{"kubeconfig": n.Layout.ComponentKubeconfig("kube-proxy")},
		"hostnameOverride":   n.Name,
		"healthzBindAddress": "127.0.0.1:" + strconv.Itoa(n.Ports.KubeProxyHealthz),
		"metricsBindAddress": "127.0.0.1:" + strconv.Itoa(n.Ports.KubeProxyMetrics),
		"mode":               "iptables",
		"clusterCIDR":        n.Network.ClusterCIDR,
		"detectLocalMode":    "ClusterCIDR",
		"oomScoreAdj":        0,
		"conntrack": map[string]any{
			"maxPerCore":            0,
			"min":                   0,
			"tcpEstablishedTimeout": "0s",
			"tcpCloseWaitTimeout":   "0s",
			"udpTimeout":            "0s",
			"udpStreamTimeout":      "0s",
		},
		"iptables": map[string]any{
			"localhostNodePorts": false,
			"masqueradeAll":      false,
			"syncPeriod":         "30s",
			"minSyncPeriod":      "1s",
		},
	}
	return marshalYAML(c)
}

func marshalYAML(v any) []byte {
	b, err := yaml.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("nodecfg: %v", err))
	}
	return b
}
