package dataplane

import (
	"net"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// TestNonMeshVM: a VMI outside the mesh is reached by plain DNAT and keeps
// the client's address; undeclared ports are not forwarded.
func TestNonMeshVM(t *testing.T) {
	cfg := podcontract.DefaultNetSetupOptions()
	cfg.Ports = []podcontract.Port{{Protocol: "TCP", Port: 9080}, {Protocol: "UDP", Port: 5353}}
	w := newWorld(t, cfg, false)

	t.Run("5 client to podIP:9080 reaches the VM directly", func(t *testing.T) {
		wantLines(t, talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080")), "VM port=9080 saw="+clientIP+":*")
	})
	t.Run("5 UDP to a declared port reaches the VM directly", func(t *testing.T) {
		wantUDP(t, udpFrom(t, w.client, clientIP, net.JoinHostPort(podIP, "5353")), "VM-UDP port=5353 saw="+clientIP+":*")
	})
	t.Run("5 undeclared port is not forwarded", func(t *testing.T) {
		var err error
		podnet.MustInNS(t, w.client, func() error {
			var c net.Conn
			c, err = net.Dial("tcp", net.JoinHostPort(podIP, "15021"))
			if err == nil {
				c.Close()
			}
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("dial podIP:15021 = %v, want connection refused by the pod itself", err)
		}
	})
	t.Run("5 pod-local 127.0.0.1:9080 reaches the VM from the gateway", func(t *testing.T) {
		wantLines(t, talk(t, w.pod, "", "127.0.0.1:9080"), "VM port=9080 saw=10.0.2.1:*")
	})
	t.Run("5 VM outbound leaves masqueraded", func(t *testing.T) {
		wantLines(t, talk(t, w.vm, "", net.JoinHostPort(upstreamIP, "8080")), "UPSTREAM port=8080 saw="+podIP+":*")
	})
}
