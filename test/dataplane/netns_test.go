package dataplane

import (
	"testing"

	"virtmesh.io/virtmesh/internal/testing/podnet"
	"virtmesh.io/virtmesh/internal/testing/require"
)

// requireEnv fails the test when it cannot build namespaces: root and the
// tools (unshare, setpriv and mount run net-setup as a container would).
func requireEnv(t *testing.T) {
	t.Helper()
	require.Root(t, "the dataplane tests create network namespaces")
	require.Tools(t, "ip", "iptables-restore", "ip6tables-restore", "iptables-save", "ip6tables-save", "unshare", "setpriv", "mount", "sh", "go")
}

// newNS creates a uniquely named network namespace, removed at cleanup.
func newNS(t *testing.T, role string) string {
	t.Helper()
	return podnet.NewNS(t, "vmt", role)
}
