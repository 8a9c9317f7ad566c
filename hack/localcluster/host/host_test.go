package host

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStartTime(t *testing.T) {
	// A command name with spaces and a ")" must not shift the fields.
	stat := "4242 (a) b) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615"
	got, err := parseStartTime(stat)
	if err != nil || got != 987654 {
		t.Fatalf("got %d, %v; want 987654", got, err)
	}
	if _, err := parseStartTime("1 (x) S"); err == nil {
		t.Fatal("a short stat must be an error")
	}
	self, err := StartTime(os.Getpid())
	if err != nil || self == 0 || !Alive(os.Getpid(), self) || Alive(os.Getpid(), self+1) {
		t.Fatalf("StartTime/Alive of this process: %d, %v", self, err)
	}
}

func TestParseMountinfo(t *testing.T) {
	in := `22 1 0:21 / /proc rw,nosuid - proc proc rw
95 30 0:5 / /run/netns/cni-1 rw shared:5 - nsfs nsfs rw
96 30 0:47 / /work/my\040dir/x rw master:1 - tmpfs tmpfs rw
`
	got, err := parseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mount{{"/proc", "proc", "proc"}, {"/run/netns/cni-1", "nsfs", "nsfs"}, {"/work/my dir/x", "tmpfs", "tmpfs"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !under("/a/b/c", "/a/b") || !under("/a/b", "/a/b/") || under("/a/bc", "/a/b") {
		t.Error("under")
	}
}

func TestSplitRule(t *testing.T) {
	got := SplitRule(`-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m comment --comment "default/kubernetes:https cluster IP" -m tcp --dport 443 -j KUBE-SVC-NPX46M4PTMTKRN6Y`)
	want := []string{"-A", "KUBE-SERVICES", "-d", "10.96.0.1/32", "-p", "tcp", "-m", "comment", "--comment", "default/kubernetes:https cluster IP", "-m", "tcp", "--dport", "443", "-j", "KUBE-SVC-NPX46M4PTMTKRN6Y"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"--comment", `a "q" b`, "x"}, SplitRule(`--comment "a \"q\" b" x`)); diff != "" {
		t.Errorf("escaped quotes (-want +got):\n%s", diff)
	}
}

func TestPlanChainDeletion(t *testing.T) {
	lines := strings.Split(`-P PREROUTING ACCEPT
-P OUTPUT ACCEPT
-N KUBE-SERVICES
-N KUBE-POSTROUTING
-N CNI-abc
-N OTHER
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -j OTHER
-A POSTROUTING -s 10.244.0.5/32 -m comment --comment "name: \"virtmesh\" id: \"x\"" -j CNI-abc
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-SERVICES -j KUBE-POSTROUTING
-A OTHER -g KUBE-SERVICES`, "\n")
	p := planChainDeletion(lines, "KUBE-")
	wantDeletes := [][]string{
		{"-D", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"},
		{"-D", "POSTROUTING", "-m", "comment", "--comment", "kubernetes postrouting rules", "-j", "KUBE-POSTROUTING"},
		{"-D", "OTHER", "-g", "KUBE-SERVICES"},
	}
	if diff := cmp.Diff(wantDeletes, p.deletes); diff != "" {
		t.Errorf("deletes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"KUBE-SERVICES", "KUBE-POSTROUTING"}, p.chains); diff != "" {
		t.Errorf("chains (-want +got):\n%s", diff)
	}
	p = planChainDeletion(lines, "CNI-")
	if len(p.deletes) != 1 || p.deletes[0][len(p.deletes[0])-1] != "CNI-abc" || len(p.chains) != 1 {
		t.Errorf("CNI- plan: %+v", p)
	}
}

func TestRemoveNewEntries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "netns")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"old", "cni-old", "cni-new", "other-new"} {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveNewEntries(dir, "cni-*", []string{"old", "cni-old"}, true); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"cni-old", "old", "other-new"}, Entries(dir)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}

	// A directory that did not exist before goes when it ends up empty.
	fresh := filepath.Join(t.TempDir(), "cni")
	if err := os.MkdirAll(filepath.Join(fresh, "cache", "results"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RemoveNewEntries(fresh, "", nil, false); err != nil {
		t.Fatal(err)
	}
	if Exists(fresh) {
		t.Errorf("%s should be gone", fresh)
	}
	if err := RemoveNewEntries(fresh, "", nil, false); err != nil {
		t.Errorf("a missing directory is nothing to do: %v", err)
	}
}

func TestDiff(t *testing.T) {
	a := Snapshot{
		Links:    []string{"eth0", "lo"},
		IPTables: map[string][]string{"iptables -t nat": {"-P OUTPUT ACCEPT"}},
		Sysctls:  map[string]string{"kernel/panic": "0", "vm/overcommit_memory": "0"},
		Paths:    map[string]bool{"/var/lib/kubelet": false},
		Cgroups:  map[string][]string{"/sys/fs/cgroup/cpu": {"user"}},
	}
	b := Snapshot{
		Links:    []string{"eth0", "lo", "virtmesh0"},
		IPTables: map[string][]string{"iptables -t nat": {"-N KUBE-SERVICES", "-P OUTPUT ACCEPT"}},
		Sysctls:  map[string]string{"kernel/panic": "10", "vm/overcommit_memory": "0"},
		Paths:    map[string]bool{"/var/lib/kubelet": true},
		Cgroups:  map[string][]string{"/sys/fs/cgroup/cpu": {"user", "kubepods"}},
	}
	want := []string{
		"link: new virtmesh0",
		"iptables -t nat: new -N KUBE-SERVICES",
		"cgroup /sys/fs/cgroup/cpu: new kubepods",
		`sysctl kernel/panic: "0" -> "10"`,
		"path /var/lib/kubelet: exists false -> true",
	}
	if diff := cmp.Diff(want, Diff(a, b)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d := Diff(a, a); len(d) != 0 {
		t.Errorf("no difference expected: %v", d)
	}
}

func TestNamesPath(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"/tmp/x", true},
		{"--root=/tmp/x/containerd", true},
		{"--kubeconfig /tmp/x/kubeconfig --v=2", true},
		{"--dir=/tmp/x", true},
		{"a,/tmp/x,b", true},
		{"bash /tmp/x.sh", false},
		{"/tmp/xy/kubeconfig", false},
		{"/tmp/x.sh /tmp/x/kubeconfig", true},
		{"/var/tmp/x", false},
		{"'/tmp/x/a'", true},
		{"", false},
	} {
		if got := NamesPath(tc.s, "/tmp/x"); got != tc.want {
			t.Errorf("NamesPath(%q, /tmp/x) = %v, want %v", tc.s, got, tc.want)
		}
	}
}
