package nodecfg

import (
	"encoding/json"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"virtmesh.io/virtmesh/internal/testing/golden"
)

// testNode is a node with fixed paths and ports, so the goldens are stable.
func testNode() Node {
	return Node{
		Layout:  Layout{Dir: "/work/.local/cluster"},
		Network: DefaultNetwork("192.0.2.2"),
		Ports: Ports{
			EtcdClient: 32379, EtcdPeer: 32380, APIServer: 36443, ControllerManager: 30257, Scheduler: 30259,
			Kubelet: 30250, KubeletHealthz: 30248, KubeProxyHealthz: 30256, KubeProxyMetrics: 30249,
		},
		Name:         "virtmesh-node",
		CNIBinDir:    "/usr/lib/cni",
		Runc:         "/usr/sbin/runc",
		SandboxImage: "localhost/virtmesh/pause:dev",
		ResolvConf:   "/etc/resolv.conf",
	}
}

var testImages = Images{
	Operator:    "localhost/virtmesh/operator:dev",
	Launcher:    "localhost/virtmesh/virt-launcher:dev",
	Proxy:       "localhost/virtmesh/proxy-standin:dev",
	Istiod:      "localhost/virtmesh/pilot:dev",
	Guest:       "localhost/virtmesh/guest-disk:dev",
	Productpage: "localhost/virtmesh/productpage-standin:dev",
	Pause:       "localhost/virtmesh/pause:dev",
	CoreDNS:     "localhost/virtmesh/coredns:dev",
}

func TestContainerdConfig(t *testing.T) {
	got := ContainerdConfig(testNode())
	golden.Assert(t, "testdata/containerd.toml", got)
	// Every path of the node's state is in the work directory.
	for _, want := range []string{`root = "/work/.local/cluster/containerd/root"`, `state = "/work/.local/cluster/containerd/state"`, "restrict_oom_score_adj = true", "netns_mounts_under_state_dir = true"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("missing %s", want)
		}
	}
}

func TestCNIConfig(t *testing.T) {
	got := CNIConfig(testNode())
	golden.Assert(t, "testdata/"+CNIConfigName, got)
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Plugins    []struct {
			Type string `json:"type"`
			IPAM struct {
				DataDir string `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(got, &conf); err != nil {
		t.Fatal(err)
	}
	// Debian's plugins (1.1.1) speak CNI up to 1.0.0.
	if conf.CNIVersion != "1.0.0" || conf.Plugins[0].Type != "bridge" || !strings.HasPrefix(conf.Plugins[0].IPAM.DataDir, "/work/.local/cluster/") {
		t.Errorf("unexpected conf %+v", conf)
	}
}

func TestKubeletConfig(t *testing.T) {
	got := KubeletConfig(testNode())
	golden.Assert(t, "testdata/kubelet.yaml", got)
	var m map[string]any
	if err := yaml.UnmarshalStrict(got, &m); err != nil {
		t.Fatal(err)
	}
	// The traps of these machines (docs/local-cluster.md).
	if m["failCgroupV1"] != false || m["cgroupDriver"] != "cgroupfs" || m["oomScoreAdj"] != float64(0) || m["address"] != "192.0.2.2" {
		t.Errorf("cgroup v1, cgroupfs, oomScoreAdj 0 and the node's address are required: %v", m)
	}
}

func TestKubeProxyConfig(t *testing.T) {
	golden.Assert(t, "testdata/kube-proxy.yaml", KubeProxyConfig(testNode()))
}

func TestControlPlaneArgs(t *testing.T) {
	n := testNode()
	var b strings.Builder
	for _, c := range []struct {
		name string
		args []string
	}{
		{"etcd", EtcdArgs(n)},
		{"kube-apiserver", APIServerArgs(n)},
		{"kube-controller-manager", ControllerManagerArgs(n)},
		{"kube-scheduler", SchedulerArgs(n)},
		{"containerd", ContainerdArgs(n)},
		{"kubelet", KubeletArgs(n)},
		{"kube-proxy", KubeProxyArgs(n)},
	} {
		b.WriteString(c.name + "\n")
		for _, a := range c.args {
			b.WriteString("  " + a + "\n")
		}
	}
	golden.Assert(t, "testdata/args.golden", []byte(b.String()))
	if n.APIServerURL() != "https://192.0.2.2:36443" {
		t.Errorf("API server URL %s", n.APIServerURL())
	}
	ip, err := n.Network.KubernetesServiceIP()
	if err != nil || ip.String() != "10.96.0.1" {
		t.Errorf("kubernetes Service IP %v, %v", ip, err)
	}
}

func TestKubeconfig(t *testing.T) {
	golden.Assert(t, "testdata/kubeconfig.yaml", Kubeconfig("https://192.0.2.2:36443", "system:node:virtmesh-node", []byte("CA"), []byte("CERT"), []byte("KEY")))
}

func TestCoreDNSManifest(t *testing.T) {
	got := CoreDNSManifest(CoreDNS{Image: testImages.CoreDNS, ClusterDNS: "10.96.0.10", ClusterDomain: "cluster.local"})
	golden.Assert(t, "testdata/coredns.yaml", got)
	for i, doc := range strings.Split(string(got), "\n---\n") {
		var m map[string]any
		if err := yaml.UnmarshalStrict([]byte(doc), &m); err != nil {
			t.Errorf("document %d: %v", i, err)
		}
	}
}

func TestOverlays(t *testing.T) {
	op, err := OperatorOverlay("/repo/.local/cluster/manifests/operator", "/repo", testImages)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "testdata/operator-kustomization.yaml", op)
	mesh, err := MeshSampleOverlay("/repo/.local/cluster/manifests/mesh", "/repo", testImages)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "testdata/mesh-kustomization.yaml", mesh)
	bi, err := BookinfoSampleOverlay("/repo/.local/cluster/manifests/bookinfo", "/repo", testImages)
	if err != nil {
		t.Fatal(err)
	}
	golden.Assert(t, "testdata/bookinfo-kustomization.yaml", bi)
}

func TestSplitImage(t *testing.T) {
	for ref, want := range map[string][2]string{
		"localhost/virtmesh/operator:dev": {"localhost/virtmesh/operator", "dev"},
		"localhost:5000/x":                {"localhost:5000/x", ""},
		"localhost:5000/x:1":              {"localhost:5000/x", "1"},
	} {
		if n, tag := SplitImage(ref); n != want[0] || tag != want[1] {
			t.Errorf("SplitImage(%q) = %q, %q", ref, n, tag)
		}
	}
}
