package dataplane

import (
	"net"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// TestMeshVMInboundUDP: the proxy carries TCP only, so in the mesh the VM's
// UDP is DNATed straight to the guest (as outside the mesh), with the
// client's address kept, while TCP on the same pod still passes the proxy.
func TestMeshVMInboundUDP(t *testing.T) {
	t.Run("declared ports", func(t *testing.T) {
		cfg := meshConfig()
		cfg.Ports = []podcontract.Port{{Protocol: "TCP", Port: 9080}, {Protocol: "UDP", Port: 5353}}
		w := newWorld(t, cfg, false)

		t.Run("UDP to a declared port reaches the guest and the answer comes back", func(t *testing.T) {
			wantUDP(t, udpFrom(t, w.client, clientIP, net.JoinHostPort(podIP, "5353")), "VM-UDP port=5353 saw="+clientIP+":*")
		})
		t.Run("TCP on the same pod still passes the proxy", func(t *testing.T) {
			wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")),
				"PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
		})
		t.Run("UDP to an undeclared port is not forwarded", func(t *testing.T) {
			// The guest listens on 15053 too: only the pod itself can refuse it.
			if got, err := udpExchange(t, w.client, clientIP, net.JoinHostPort(podIP, "15053")); err == nil || !strings.Contains(err.Error(), "connection refused") {
				t.Fatalf("UDP to podIP:15053 = %q, %v; want connection refused by the pod", got, err)
			}
		})
	})
	t.Run("all ports", func(t *testing.T) {
		w := newWorld(t, meshConfig(), false)
		// The pod's own listener on the proxy's DNS port, standing in for
		// pilot-agent's DNS proxy.
		serveUDP(t, w.pod, 15053, "POD-UDP port=15053")

		t.Run("UDP reaches the guest and the answer comes back", func(t *testing.T) {
			wantUDP(t, udpFrom(t, w.client, clientIP, net.JoinHostPort(podIP, "5353")), "VM-UDP port=5353 saw="+clientIP+":*")
		})
		t.Run("UDP to a port the proxy reserves stays in the pod", func(t *testing.T) {
			wantUDP(t, udpFrom(t, w.client, clientIP, net.JoinHostPort(podIP, "15053")), "POD-UDP port=15053 saw="+clientIP+":*")
		})
		t.Run("TCP on the same pod still passes the proxy", func(t *testing.T) {
			wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")),
				"PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
		})
	})
}

// udpFrom sends one datagram from local in ns and returns the answer.
func udpFrom(t *testing.T, ns, local, remote string) string {
	t.Helper()
	got, err := udpExchange(t, ns, local, remote)
	if err != nil {
		t.Fatalf("UDP from %s to %s: %v", local, remote, err)
	}
	return got
}

// wantUDP is wantLines for one datagram's answer.
func wantUDP(t *testing.T, got, want string) {
	t.Helper()
	wantLines(t, []string{got}, want)
}
