package dataplane

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// The VM's IPv6 is explicit (--vm-ipv6): its forwarding needs
// net.ipv6.conf.all.forwarding=1, which only the kubelet can set in a pod.
// These tests run dual-stack pods both ways; every IPv6 connection is
// either served or refused at once, never left hanging.

// TestVMIPv6Off: by default the VM is IPv4-only in a dual-stack pod: no
// IPv6 address for it, and every IPv6 connection to the pod that nothing in
// the pod listens for is refused (RST) — in and out of the mesh.
func TestVMIPv6Off(t *testing.T) {
	for name, cfg := range map[string]podcontract.NetSetupOptions{"no mesh": podcontract.DefaultNetSetupOptions(), "mesh": meshConfig()} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, cfg, true)

			t.Run("net-setup says the VM is IPv4-only and sets no IPv6 sysctl", func(t *testing.T) {
				if !strings.Contains(w.setupOutput, "Note: the VM is IPv4-only (--vm-ipv6=false)") || strings.Contains(w.setupOutput, "Sysctl net.ipv6") {
					t.Fatalf("net-setup output:\n%s", w.setupOutput)
				}
			})
			t.Run("the VM gets no IPv6: no gateway on the bridge, no DHCPv6 answer", func(t *testing.T) {
				if got := podnet.NSExec(t, w.pod, "ip", "-6", "-br", "addr", "show", "dev", "k6t-eth0", "scope", "global"); strings.TrimSpace(got) != "" {
					t.Errorf("bridge has global IPv6 addresses: %s", got)
				}
				var c6 *nclient6.Client
				podnet.MustInNS(t, w.vm, func() (err error) {
					c6, err = nclient6.New("eth0", nclient6.WithTimeout(500*time.Millisecond), nclient6.WithRetry(1))
					return err
				})
				defer c6.Close()
				if adv, err := c6.Solicit(context.Background()); err == nil {
					t.Fatalf("DHCPv6 answered the guest: %s", adv.Summary())
				}
			})
			t.Run("[::1]:9080 in the pod is refused at once", func(t *testing.T) {
				wantRefused(t, w.pod, "", "[::1]:9080")
			})
			t.Run("inbound IPv6 TCP to the pod is refused at once", func(t *testing.T) {
				wantRefused(t, w.client, clientIP6, net.JoinHostPort(podIP6, "9080"))
			})
			t.Run("IPv4 still reaches the VM", func(t *testing.T) {
				want := []string{"VM port=9080 saw=" + clientIP + ":*"}
				if cfg.Mesh != nil {
					want = []string{"PROXY inbound orig=" + podIP + ":9080", "VM port=9080 saw=10.0.2.1:*"}
				}
				wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")), want...)
			})
			if cfg.Mesh == nil {
				return
			}
			t.Run("pod-local outbound IPv6 still passes the proxy", func(t *testing.T) {
				wantLines(t, w.dialAs(t, podcontract.QEMUUID, net.JoinHostPort(upstreamIP6, "8080")),
					"PROXY outbound orig=["+upstreamIP6+"]:8080", "UPSTREAM port=8080 saw=["+podIP6+"]:*")
			})
		})
	}
}

// TestVMIPv6On: with --vm-ipv6 and the kubelet's sysctl, everything IPv6
// works: DHCPv6, the VM's UDP and ICMP egress as the pod, inbound through
// the proxy (mesh) or straight to the VM (no mesh), proxied outbound TCP,
// inbound UDP in the mesh, pod-local connections to the VM's address off
// the proxy; and [::1]:port is still refused, not DNATed.
func TestVMIPv6On(t *testing.T) {
	for name, cfg := range map[string]podcontract.NetSetupOptions{"no mesh": podcontract.DefaultNetSetupOptions(), "mesh": meshConfig()} {
		cfg.IPv6 = true
		t.Run(name, func(t *testing.T) {
			w := newWorld(t, cfg, true)
			mesh := cfg.Mesh != nil

			t.Run("net-setup checked the sysctl the kubelet set", func(t *testing.T) {
				if !strings.Contains(w.setupOutput, "Sysctl net.ipv6.conf.all.forwarding=1 (via the pod's securityContext.sysctls") {
					t.Fatalf("net-setup output:\n%s", w.setupOutput)
				}
			})
			t.Run("DHCPv6 gives the VM its address", func(t *testing.T) {
				if got := w.lease6.Options.OneIANA().Options.OneAddress().IPv6Addr.String(); got != "fd10:0:2::2" {
					t.Fatalf("DHCPv6 address %s, want fd10:0:2::2", got)
				}
			})
			t.Run("VM IPv6 UDP leaves as the pod", func(t *testing.T) {
				got := udpAsk(t, w.vm, net.JoinHostPort(upstreamIP6, "5353"))
				wantUDP(t, got, "UPSTREAM-UDP saw=["+podIP6+"]:*")
			})
			t.Run("VM ICMPv6 leaves as the pod", func(t *testing.T) {
				if src := pingAndCapture(t, w.vm, w.upstream, upstreamIP6); src != podIP6 {
					t.Fatalf("upstream saw the echo request from %s, want the pod IP %s", src, podIP6)
				}
			})
			t.Run("inbound IPv6 reaches the VM", func(t *testing.T) {
				want := []string{"VM port=9080 saw=[" + clientIP6 + "]:*"}
				if mesh {
					want = []string{"PROXY inbound orig=[" + podIP6 + "]:9080", "VM port=9080 saw=[fd10:0:2::1]:*"}
				}
				wantLines(t, talk(t, w.client, clientIP6, net.JoinHostPort(podIP6, "9080")), want...)
			})
			t.Run("inbound IPv6 UDP reaches the VM", func(t *testing.T) {
				wantUDP(t, udpFrom(t, w.client, clientIP6, net.JoinHostPort(podIP6, "5353")), "VM-UDP port=5353 saw=["+clientIP6+"]:*")
			})
			t.Run("VM outbound IPv6 TCP leaves as the pod", func(t *testing.T) {
				want := []string{"UPSTREAM port=8080 saw=[" + podIP6 + "]:*"}
				if mesh {
					want = append([]string{"PROXY outbound orig=[" + upstreamIP6 + "]:8080"}, want...)
				}
				wantLines(t, talk(t, w.vm, "", net.JoinHostPort(upstreamIP6, "8080")), want...)
			})
			t.Run("[::1]:9080 in the pod is refused at once", func(t *testing.T) {
				wantRefused(t, w.pod, "", "[::1]:9080")
			})
			t.Run("IPv4 still reaches the VM", func(t *testing.T) {
				want := []string{"VM port=9080 saw=" + clientIP + ":*"}
				if mesh {
					want = []string{"PROXY inbound orig=" + podIP + ":9080", "VM port=9080 saw=10.0.2.1:*"}
				}
				wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")), want...)
			})
			if !mesh {
				t.Run("control: a [::1] DNAT to the VM would hang", func(t *testing.T) {
					// The rules VirtMesh rendered before, mirroring IPv4's
					// 127.0.0.1 DNAT and SNAT. The SYN reaches the guest,
					// but its answer, un-NATed back to ::1, arrives on
					// k6t-eth0, and IPv6 (which has no route_localnet)
					// drops packets for ::1 from a non-loopback device: no
					// answer, no refusal, only a timeout.
					for _, rule := range [][]string{
						{"-t", "nat", "KUBEVIRT_OUTPUT", "-d", "::1/128", "-p", "tcp", "--dport", "9080", "-j", "DNAT", "--to-destination", "fd10:0:2::2"},
						{"-t", "nat", "KUBEVIRT_POSTINBOUND", "-s", "::1/128", "-j", "SNAT", "--to-source", "fd10:0:2::1"},
						{"-t", "filter", "INPUT", "-p", "tcp", "--dport", "9080"}, // a counter, in the guest
					} {
						ns := w.pod
						if rule[1] == "filter" {
							ns = w.vm
						}
						add := append([]string{"ip6tables", rule[0], rule[1], "-A"}, rule[2:]...)
						podnet.NSExec(t, ns, add...)
						del := append([]string{"ip6tables", rule[0], rule[1], "-D"}, rule[2:]...)
						t.Cleanup(func() { podnet.NSExec(t, ns, del...) })
					}
					err := dialWithin(t, w.pod, "", "[::1]:9080", time.Second)
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						t.Fatalf("dial [::1]:9080 with the DNAT = %v, want a timeout", err)
					}
					counted := strings.Fields(strings.Split(podnet.NSExec(t, w.vm, "ip6tables", "-L", "INPUT", "-v", "-n", "-x"), "\n")[2])
					if len(counted) == 0 || counted[0] == "0" {
						t.Fatalf("the guest never saw the SYN: %q", counted)
					}
				})
				return
			}
			t.Run("pod-local connections to the VM's IPv6 address skip the proxy", func(t *testing.T) {
				wantLines(t, w.dialAs(t, podcontract.QEMUUID, "[fd10:0:2::2]:9080"), "VM port=9080 saw=[fd10:0:2::1]:*")
				// Had it been captured, the proxy would have logged it from
				// the bridge's address.
				if log := w.proxy.Stderr(); strings.Contains(log, "from=[fd10:0:2::1]") {
					t.Fatalf("the proxy saw the connection:\n%s", log)
				}
			})
		})
	}
}

// TestVMIPv6NeedsTheKubeletSysctl: with --vm-ipv6 but without the pod
// sysctl (a kubelet that does not allow it would not even start the pod;
// this is the pod started some other way), net-setup fails before changing
// anything, naming the sysctl and the kubelet flag.
func TestVMIPv6NeedsTheKubeletSysctl(t *testing.T) {
	cfg := podcontract.DefaultNetSetupOptions()
	cfg.IPv6 = true
	w := wireWorld(t, cfg, true)
	out, err := exec.Command("ip", append([]string{"netns", "exec", w.pod}, w.netSetupCommand()...)...).CombinedOutput()
	if err == nil {
		t.Fatalf("net-setup succeeded without IPv6 forwarding:\n%s", out)
	}
	for _, want := range []string{"net.ipv6.conf.all.forwarding=1", "securityContext.sysctls", podcontract.KubeletAllowIPv6ForwardingFlag, "without --vm-ipv6"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("net-setup's error does not say %q:\n%s", want, out)
		}
	}
	if links := podnet.NSExec(t, w.pod, "ip", "-br", "link"); strings.Contains(links, cfg.Bridge) {
		t.Errorf("net-setup plumbed the pod before failing:\n%s", links)
	}
}

// wantRefused dials remote from ns and wants ECONNREFUSED within a second:
// a refusal, not a timeout.
func wantRefused(t *testing.T, ns, local, remote string) {
	t.Helper()
	start := time.Now()
	err := dialWithin(t, ns, local, remote, time.Second)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial %s = %v after %s, want connection refused", remote, err, time.Since(start).Round(time.Millisecond))
	}
}

// dialWithin connects from ns (optionally from local) with a timeout and
// returns the error, closing the connection if there was one.
func dialWithin(t *testing.T, ns, local, remote string, timeout time.Duration) error {
	t.Helper()
	var err error
	podnet.MustInNS(t, ns, func() error {
		d := net.Dialer{Timeout: timeout}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		var c net.Conn
		if c, err = d.Dial("tcp", remote); err == nil {
			c.Close()
		}
		return nil
	})
	return err
}
