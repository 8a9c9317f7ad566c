package dataplane

import (
	"os"
	"os/exec"
	"testing"

	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// requireEnv skips (never passes) when the test cannot build namespaces.
func requireEnv(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("SKIP: the dataplane tests need root to create network namespaces")
	}
	for _, tool := range []string{"ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed (Debian: apt-get install -y iproute2 iptables)", tool)
		}
	}
	// Used to run net-setup as a container would (see world.netSetup).
	for _, tool := range []string{"unshare", "setpriv", "mount", "sh", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIP: %s is not installed (Debian: util-linux, mount; and the Go toolchain)", tool)
		}
	}
}

// newNS creates a uniquely named network namespace, removed at cleanup.
func newNS(t *testing.T, role string) string {
	t.Helper()
	return podnet.NewNS(t, "vmt", role)
}
