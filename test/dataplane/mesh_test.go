package dataplane

import (
	"net"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/internal/dataplane"
)

func meshConfig() dataplane.Config {
	c := dataplane.DefaultConfig()
	c.Mesh = dataplane.DefaultMesh()
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

	t.Run("1 inbound passes the proxy and reaches the VM from the gateway", func(t *testing.T) {
		got := talk(t, w.client, clientIP, net.JoinHostPort(podIP, "9080"))
		wantLines(t, got, "PROXY inbound orig="+podIP+":9080", "VM port=9080 saw=10.0.2.1:*")
	})
	t.Run("2 VM outbound passes the proxy's outbound listener and leaves as the pod", func(t *testing.T) {
		got := talk(t, w.vm, "", net.JoinHostPort(upstreamIP, "8080"))
		wantLines(t, got, "PROXY outbound orig="+upstreamIP+":8080", "UPSTREAM port=8080 saw="+podIP+":*")
	})
}
