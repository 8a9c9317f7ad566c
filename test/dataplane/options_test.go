package dataplane

import (
	"net"
	"testing"
)

// TestMeshIncludeCIDRsAndUnproxiedPorts: with an outbound include list,
// only the listed CIDRs go through the proxy; an unproxied port reaches the
// VM directly, bypassing the proxy, while other ports are still captured.
func TestMeshIncludeCIDRsAndUnproxiedPorts(t *testing.T) {
	cfg := meshConfig()
	cfg.Mesh.IncludeOutboundCIDRs = []string{"203.0.113.0/24"} // not the upstream
	cfg.Mesh.UnproxiedPorts = []uint16{2222}
	w := newWorld(t, cfg, false)

	t.Run("VM outbound outside the include list is not captured", func(t *testing.T) {
		wantLines(t, talk(t, w.vm, "", net.JoinHostPort(upstreamIP, "8080")), "UPSTREAM port=8080 saw="+podIP+":*")
	})
	t.Run("unproxied port reaches the VM directly with the client's address", func(t *testing.T) {
		wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "2222")), "VM port=2222 saw="+clientIP+":*")
	})
	t.Run("other ports are still captured inbound", func(t *testing.T) {
		wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")),
			"PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
	})
}
