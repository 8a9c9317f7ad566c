package dataplane

import (
	"net"
	"strings"
	"testing"
)

// TestMeshVMIPv6 repeats the inbound and outbound walks over IPv6 in a
// dual-stack pod, with the guest's IPv6 address from our DHCPv6 server.
func TestMeshVMIPv6(t *testing.T) {
	w := newWorld(t, meshConfig(), true)

	t.Run("DHCPv6 gives the VM its address", func(t *testing.T) {
		got := w.lease6.Options.OneIANA().Options.OneAddress().IPv6Addr.String()
		if got != "fd10:0:2::2" {
			t.Fatalf("DHCPv6 address %s, want fd10:0:2::2", got)
		}
	})
	t.Run("IPv6 forwarding needs a writable /proc/sys", func(t *testing.T) {
		// net-setup ran with /proc/sys read-only, as in a container: the
		// IPv4 sysctls went over rtnetlink, IPv6 forwarding could not be set.
		if !strings.Contains(w.setupOutput, "WARNING: setting net.ipv6.conf.all.forwarding=1") ||
			strings.Contains(w.setupOutput, "via /proc/sys)") {
			t.Fatalf("unexpected sysctl report:\n%s", w.setupOutput)
		}
	})
	t.Run("1 inbound IPv6 passes the proxy and reaches the VM from the gateway", func(t *testing.T) {
		got := talk(t, w.client, clientIP6, net.JoinHostPort(podIP6, "9080"))
		wantLines(t, got, "PROXY inbound orig=["+podIP6+"]:9080", "VM port=9080 saw=[fd10:0:2::1]:*")
	})
	t.Run("2 VM outbound IPv6 passes the proxy's outbound listener and leaves as the pod", func(t *testing.T) {
		got := talk(t, w.vm, "", net.JoinHostPort(upstreamIP6, "8080"))
		wantLines(t, got, "PROXY outbound orig=["+upstreamIP6+"]:8080", "UPSTREAM port=8080 saw=["+podIP6+"]:*")
	})
	t.Run("1 inbound IPv4 still works in the dual-stack pod", func(t *testing.T) {
		got := talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080"))
		wantLines(t, got, "PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
	})
}
