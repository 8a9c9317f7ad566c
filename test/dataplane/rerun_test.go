package dataplane

import (
	"net"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"virtmesh.io/virtmesh/internal/dataplane"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// TestRerunIsIdempotent: the kubelet may re-run the init container. A
// second net-setup leaves exactly one copy of every rule, address and link,
// and traffic still flows.
func TestRerunIsIdempotent(t *testing.T) {
	cfg := meshConfig()
	cfg.Ports = []podcontract.Port{{Protocol: "TCP", Port: 9080}, {Protocol: "UDP", Port: 5353}}
	cfg.IPv6 = true
	w := newWorld(t, cfg, true)
	before := w.state(t)
	for _, rules := range []string{before["iptables"], before["ip6tables"]} {
		if dups := duplicates(rules); len(dups) > 0 {
			t.Fatalf("duplicate rules after the first run: %q", dups)
		}
	}
	w.netSetup(t)
	w.netSetup(t)
	after := w.state(t)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("pod state changed by re-running net-setup (-first +third):\n%s", diff)
	}
	// One copy of every rule: the kernel's tables hold exactly the rendered rules.
	for fam, tool := range map[dataplane.Family]string{dataplane.IPv4: "iptables", dataplane.IPv6: "ip6tables"} {
		rendered, err := dataplane.RenderRules(cfg, fam, netip.MustParseAddr(podIP), netip.MustParseAddr(podIP6))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Count(after[tool], "\n-A ")+strings.Count(after[tool][:3], "-A "), strings.Count(rendered, "\n-A "); got != want {
			t.Errorf("%s holds %d rules after three runs, rendered %d:\n%s", tool, got, want, after[tool])
		}
	}
	wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")),
		"PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
}

var counters = regexp.MustCompile(`\[\d+:\d+\]`)

// state is what net-setup controls in the pod, in comparable form.
func (w *world) state(t *testing.T) map[string]string {
	t.Helper()
	s := map[string]string{}
	for _, tool := range []string{"iptables", "ip6tables"} {
		var lines []string
		for _, l := range strings.Split(podnet.NSExec(t, w.pod, tool+"-save", "-t", "nat"), "\n") {
			if strings.HasPrefix(l, "#") || l == "" {
				continue // timestamps
			}
			lines = append(lines, counters.ReplaceAllString(l, "[0:0]"))
		}
		s[tool] = strings.Join(lines, "\n")
	}
	s["bridge"] = podnet.NSExec(t, w.pod, "ip", "-br", "addr", "show", "dev", w.cfg.Bridge)
	s["tap"] = podnet.NSExec(t, w.pod, "ip", "-d", "-o", "link", "show", "dev", w.cfg.Tap)
	s["lo"] = podnet.NSExec(t, w.pod, "ip", "-br", "addr", "show", "dev", "lo")
	s["links"] = podnet.NSExec(t, w.pod, "ip", "-br", "link")
	return s
}

func duplicates(rules string) []string {
	seen := map[string]int{}
	for _, l := range strings.Split(rules, "\n") {
		if strings.HasPrefix(l, "-A ") {
			seen[l]++
		}
	}
	var d []string
	for l, n := range seen {
		if n > 1 {
			d = append(d, l)
		}
	}
	sort.Strings(d)
	return d
}
