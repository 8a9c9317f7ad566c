package dataplane

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/insomniacslk/dhcp/dhcpv4"

	"virtmesh.io/virtmesh/internal/dataplane"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
)

func meshConfig() podcontract.NetSetupOptions {
	c := podcontract.DefaultNetSetupOptions()
	c.Mesh = podcontract.DefaultMesh()
	return c
}

// wantLines compares a conversation with the expected lines, where the
// peer's ephemeral port is not known in advance: "saw=10.0.2.1:*" matches
// any port.
func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got lines %q, want %q", got, want)
	}
	for i := range want {
		w, g := want[i], got[i]
		if strings.HasSuffix(w, ":*") {
			if !strings.HasPrefix(g, strings.TrimSuffix(w, "*")) {
				t.Fatalf("line %d: got %q, want %q", i, g, w)
			}
			continue
		}
		if g != w {
			t.Fatalf("line %d: got %q, want %q", i, g, w)
		}
	}
}

func TestMeshVM(t *testing.T) {
	w := newWorld(t, meshConfig(), false)
	t.Logf("net-setup output:\n%s", w.setupOutput)

	t.Run("plumbing: bridge, tap and sysctls as the init container left them", func(t *testing.T) {
		br := podnet.NSExec(t, w.pod, "ip", "-d", "-o", "link", "show", "dev", "k6t-eth0")
		tap := podnet.NSExec(t, w.pod, "ip", "-d", "-o", "link", "show", "dev", "tap0")
		for _, c := range []struct{ what, text, want string }{
			{"bridge MAC", br, "link/ether 02:00:00:00:00:00"},
			{"bridge MTU", br, "mtu 1450"},
			{"tap master", tap, "master k6t-eth0"},
			{"tap MTU", tap, "mtu 1450"},
			{"tap kind", tap, "tun type tap pi off vnet_hdr on persist on user 107"},
			{"bridge IPv4", podnet.NSExec(t, w.pod, "ip", "-br", "addr", "show", "dev", "k6t-eth0"), "10.0.2.1/24"},
		} {
			if !strings.Contains(c.text, c.want) {
				t.Errorf("%s: %q not in %q", c.what, c.want, c.text)
			}
		}
		for key, want := range map[string]string{
			"net/ipv4/conf/k6t-eth0/route_localnet": "1", "net/ipv4/conf/k6t-eth0/forwarding": "1",
			"net/ipv4/conf/eth0/forwarding": "1",
			// Not needed: forwarding is decided per input device.
			"net/ipv4/ip_forward": "0",
		} {
			if got := strings.TrimSpace(podnet.NSExec(t, w.pod, "cat", "/proc/sys/"+key)); got != want {
				t.Errorf("%s = %s, want %s", key, got, want)
			}
		}
	})
	t.Run("1 inbound passes the proxy and reaches the VM from the gateway", func(t *testing.T) {
		got := talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080"))
		wantLines(t, got, "PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
	})
	t.Run("2 VM outbound passes the proxy's outbound listener and leaves as the pod", func(t *testing.T) {
		got := talk(t, w.vm, "", net.JoinHostPort(upstreamIP, "8080"))
		wantLines(t, got, "PROXY outbound orig="+upstreamIP+":8080", "UPSTREAM port=8080 saw="+podIP+":*")
	})
}

func TestMeshVMEgressAndProbes(t *testing.T) {
	w := newWorld(t, meshConfig(), false)

	t.Run("3 DHCP gives the VM its address, router, DNS, search domains, hostname and MTU", func(t *testing.T) {
		ack := w.lease.ACK
		got := map[string]string{
			"yourIP":   ack.YourIPAddr.String(),
			"router":   ipList(ack.Router()),
			"dns":      ipList(ack.DNS()),
			"hostname": ack.HostName(),
			"mtu":      mtuOption(ack),
			"lease":    ack.IPAddressLeaseTime(0).String(),
		}
		if s := ack.DomainSearch(); s != nil {
			got["search"] = strings.Join(s.Labels, " ")
		}
		want := map[string]string{
			"yourIP": "10.0.2.2", "router": "10.0.2.1", "dns": "10.96.0.10", "hostname": "testvm",
			"mtu": "1450", "lease": "1193046h28m15s", "search": "default.svc.cluster.local svc.cluster.local cluster.local",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DHCP lease (-want +got):\n%s", diff)
		}
	})
	t.Run("3 VM UDP leaves masqueraded, not captured", func(t *testing.T) {
		got := udpAsk(t, w.vm, net.JoinHostPort(upstreamIP, "5353"))
		if !strings.HasPrefix(got, "UPSTREAM-UDP saw="+podIP+":") {
			t.Fatalf("UDP answer %q, want it from the upstream having seen the pod IP", got)
		}
	})
	t.Run("3 VM ICMP leaves masqueraded", func(t *testing.T) {
		src := pingAndCapture(t, w.vm, w.upstream, upstreamIP)
		if src != podIP {
			t.Fatalf("upstream saw the echo request from %s, want the pod IP %s", src, podIP)
		}
	})
	t.Run("4 client to podIP:15021 reaches the proxy, not the VM", func(t *testing.T) {
		wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "15021")), "PROXY health")
	})
	t.Run("4 pod-local 127.0.0.1:15000 reaches the proxy, not the VM", func(t *testing.T) {
		wantLines(t, talk(t, w.pod, "", "127.0.0.1:15000"), "PROXY admin")
	})
	t.Run("4 pod-local 127.0.0.1:9080 is DNATed into the VM", func(t *testing.T) {
		// The control for the two above: loopback traffic does reach the
		// VM, so it is the proxy-port exclusion that keeps 15000 local.
		wantLines(t, talk(t, w.pod, "", "127.0.0.1:9080"), "VM port=9080 saw=10.0.2.1:*")
	})
}

// TestMeshWithoutVMInterfaceRules is the negative control: the same pod
// with the two `-i k6t-eth0` PREROUTING rules deleted. The VM's outbound
// connection is then captured as inbound (15006) — the failure the rules
// exist to prevent.
func TestMeshWithoutVMInterfaceRules(t *testing.T) {
	w := newWorld(t, meshConfig(), false)
	// Control: with the rules, the VM's connection goes outbound.
	wantLines(t, talk(t, w.vm, "", net.JoinHostPort(upstreamIP, "8080")),
		"PROXY outbound orig="+upstreamIP+":8080", "UPSTREAM port=8080 saw="+podIP+":*")

	br := w.cfg.Bridge
	podnet.NSExec(t, w.pod, "iptables", "-t", "nat", "-D", "PREROUTING", "-i", br, "-p", "tcp", "-j", dataplane.ChainVMOutboundRedir)
	podnet.NSExec(t, w.pod, "iptables", "-t", "nat", "-D", "PREROUTING", "-i", br, "-j", "RETURN")

	got := talk(t, w.vm, "", net.JoinHostPort(upstreamIP, "8081"))
	if len(got) == 0 || got[0] != "PROXY inbound orig="+upstreamIP+":8081" {
		t.Fatalf("without the VM-interface rules got %q, want the connection on the inbound listener", got)
	}
	for _, l := range got {
		if strings.HasPrefix(l, "UPSTREAM") {
			t.Fatalf("the connection reached the upstream anyway: %q", got)
		}
	}
}

func ipList(ips []net.IP) string {
	var s []string
	for _, ip := range ips {
		s = append(s, ip.String())
	}
	return strings.Join(s, " ")
}

func mtuOption(m *dhcpv4.DHCPv4) string {
	b := m.Options.Get(dhcpv4.OptionInterfaceMTU)
	if len(b) != 2 {
		return fmt.Sprintf("missing (%x)", b)
	}
	return fmt.Sprint(int(b[0])<<8 | int(b[1]))
}

// TestMeshPodLocalToVMAddressNotCaptured: a pod-local client of the VM's own
// address — the launcher's guest probes, compute (uid 107) connecting to
// 10.0.2.2:9080 — reaches the guest directly, never the proxy, while the
// proxy's inbound hand-over (to podIP:port, DNATed after ISTIO_OUTPUT) is
// unchanged.
func TestMeshPodLocalToVMAddressNotCaptured(t *testing.T) {
	w := newWorld(t, meshConfig(), false)

	wantLines(t, w.dialAs(t, podcontract.QEMUUID, "10.0.2.2:9080"), "VM port=9080 saw=10.0.2.1:*")
	// Control: the same uid's connection elsewhere is captured, so the proxy
	// logs it; had the first connection reached the proxy, its line would
	// come first.
	wantLines(t, w.dialAs(t, podcontract.QEMUUID, net.JoinHostPort(upstreamIP, "8080")),
		"PROXY outbound orig="+upstreamIP+":8080", "UPSTREAM port=8080 saw="+podIP+":*")
	w.proxy.WaitStderr(t, "CONN outbound", 5*time.Second)
	if log := w.proxy.Stderr(); strings.Count(log, "CONN ") != 1 {
		t.Fatalf("the proxy accepted more than the control connection:\n%s", log)
	}
	wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")),
		"PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
}
