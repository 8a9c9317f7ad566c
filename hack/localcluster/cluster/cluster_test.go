package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
	"virtmesh.io/virtmesh/internal/testing/golden"
)

// undoPlan is the real node's teardown as `down` replays it: every
// component's steps in start order, newest first.
func undoPlan(t *testing.T) []string {
	t.Helper()
	e := &Env{Layout: nodecfg.Layout{Dir: "/w"}}
	e.Node = nodecfg.Node{Layout: e.Layout, Network: nodecfg.DefaultNetwork("192.0.2.2"), Name: "n"}
	steps := []journal.Step{workDirUnmount("/w")}
	steps[0].Component = "local-cluster"
	for _, c := range RealNodeComponents(ImageIndex{}) {
		for _, s := range c.Undo(e) {
			s.Component = c.Name()
			// Host-dependent: what a sysctl or directory holds now.
			s.Value, s.Keep, s.Existed = "", nil, false
			steps = append(steps, s)
		}
	}
	var plan []string
	for i := len(steps) - 1; i >= 0; i-- {
		steps[i].Seq = len(plan) + 1
		plan = append(plan, strings.TrimPrefix(steps[i].String(), fmt.Sprintf("#%d ", steps[i].Seq)))
	}
	return plan
}

func TestRealNodeTeardownOrder(t *testing.T) {
	plan := undoPlan(t)
	// Which sysctls exist depends on the kernel: the golden leaves them out.
	var pinned []string
	for _, p := range plan {
		if !strings.Contains(p, ": restore ") {
			pinned = append(pinned, p)
		}
	}
	golden.Assert(t, "testdata/teardown-plan.golden", []byte(strings.Join(pinned, "\n")+"\n"))
	at := func(s string) int {
		i := slices.IndexFunc(plan, func(p string) bool { return strings.HasPrefix(p, s) })
		if i < 0 {
			t.Fatalf("no step %q in the plan:\n%s", s, strings.Join(plan, "\n"))
		}
		return i
	}
	before := []struct{ first, then, why string }{
		{"kubelet: stop every kubelet", "kubelet: kill the processes of cgroup kubepods", "a live kubelet would restart the containers"},
		{"kubelet: kill the processes of cgroup kubepods", "kubelet: remove cgroup kubepods", "a cgroup with processes cannot be removed"},
		{"kubelet: kill the processes of cgroup kubepods", "containerd: stop every containerd-shim-runc-v2", "the shims reap the killed containers"},
		{"kubelet: unmount everything under /w/kubelet", "kubelet: remove new entries * of /var/lib/kubelet", "mounted volumes cannot be removed"},
		{"containerd: stop every containerd with", "containerd: unmount everything under /w/containerd", "containerd holds its snapshots"},
		{"kubelet: kill the processes of cgroup kubepods", "cni: delete link virtmesh0", "pods hold veths on the bridge"},
		{"kubelet: stop every kubelet", "kubelet: restore kernel/panic", "the kubelet would set it again"},
		{"kube-apiserver: stop every kube-apiserver", "etcd: stop every etcd", "the API server hangs in graceful shutdown without etcd"},
		{"kube-proxy: stop every kube-proxy", "kube-proxy: delete iptables chains KUBE-*", "kube-proxy would recreate its chains"},
	}
	for _, b := range before {
		if at(b.first) > at(b.then) {
			t.Errorf("%q must come before %q: %s", b.first, b.then, b.why)
		}
	}
	if last := plan[len(plan)-1]; last != "local-cluster: unmount everything under /w" {
		t.Errorf("the last step is %q, want the work directory's unmount", last)
	}
}

func TestChooseMode(t *testing.T) {
	for _, c := range []struct {
		nodes, goos string
		euid        int
		want        Mode
		kwokNodes   int
		reason      string
		err         string
	}{
		{"", "linux", 0, RealNode, 0, "running as root on Linux", ""},
		{"", "linux", 1000, Kwok, 2, "needs root", ""},
		{"", "darwin", 0, Kwok, 2, "needs Linux", ""},
		{"kwok", "linux", 0, Kwok, 2, "NODES=kwok", ""},
		{"7", "linux", 0, Kwok, 7, "7 simulated kwok nodes", ""},
		{"real", "linux", 0, RealNode, 0, "NODES=real", ""},
		{"real", "linux", 1000, "", 0, "", "NODES=real: the real node needs root"},
		{"0", "linux", 0, "", 0, "", "want real, kwok or a number"},
		{"many", "linux", 0, "", 0, "", "want real, kwok or a number"},
	} {
		got, err := ChooseMode(c.nodes, c.goos, c.euid)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ChooseMode(%q, %s, %d): error %v, want %q", c.nodes, c.goos, c.euid, err, c.err)
			}
			continue
		}
		if err != nil || got.Mode != c.want || got.KwokNodes != c.kwokNodes || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("ChooseMode(%q, %s, %d) = %+v, %v; want %s with %d kwok nodes, reason with %q", c.nodes, c.goos, c.euid, got, err, c.want, c.kwokNodes, c.reason)
		}
	}
}

func TestNodeIP(t *testing.T) {
	lo := Iface{Name: "lo", Up: true, Loopback: true, Addrs: []string{"127.0.0.1/8", "::1/128"}}
	eth0 := Iface{Name: "eth0", Up: true, Addrs: []string{"fd00::2/64", "192.0.2.2/24"}}
	eth1 := Iface{Name: "eth1", Up: true, Addrs: []string{"198.51.100.7/24"}}
	down := Iface{Name: "eth2", Addrs: []string{"203.0.113.1/24"}}
	for _, c := range []struct {
		def    string
		ifaces []Iface
		want   string
	}{
		{"eth1", []Iface{lo, eth0, eth1}, "198.51.100.7"},
		{"", []Iface{lo, down, eth0}, "192.0.2.2"},
		{"eth0", []Iface{lo, eth0}, "192.0.2.2"},
	} {
		got, err := NodeIP(c.def, c.ifaces)
		if err != nil || got != c.want {
			t.Errorf("NodeIP(%q) = %q, %v; want %s", c.def, got, err, c.want)
		}
	}
	if _, err := NodeIP("lo", []Iface{lo, down}); err == nil {
		t.Error("only loopback and down interfaces: want an error")
	}
}

func TestImageIndex(t *testing.T) {
	var ix ImageIndex
	for _, n := range []string{"operator", "virt-launcher", "proxy-standin", "guest-disk", "productpage-standin", "pause"} {
		ix.Images = append(ix.Images, struct {
			Name string `json:"name"`
			Ref  string `json:"ref"`
			Tar  string `json:"tar"`
			Hash string `json:"hash"`
		}{Name: n, Ref: "localhost/virtmesh/" + n + ":dev"})
	}
	if _, err := ix.LocalImages(); err == nil || !strings.Contains(err.Error(), "lacks coredns, pilot: run make images") {
		t.Fatalf("a missing image must name itself and the fix, got %v", err)
	}
	for _, n := range []string{"coredns", "pilot"} {
		ix.Images = append(ix.Images, struct {
			Name string `json:"name"`
			Ref  string `json:"ref"`
			Tar  string `json:"tar"`
			Hash string `json:"hash"`
		}{Name: n, Ref: "localhost/virtmesh/" + n + ":dev"})
	}
	img, err := ix.LocalImages()
	if err != nil || img.Istiod != "localhost/virtmesh/pilot:dev" {
		t.Fatalf("with every image: istiod's image %q, %v; want the pilot image", img.Istiod, err)
	}
}
