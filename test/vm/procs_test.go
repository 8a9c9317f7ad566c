package vm

import (
	"os"
	"testing"

	"virtmesh.io/virtmesh/internal/testing/podnet"
)

const helperEnv = "VIRTMESH_VM_HELPER"

func TestMain(m *testing.M) {
	// The stand-in also answers POST /quitquitquit on 15020, as pilot-agent
	// does: compute calls it on exit (StopProxyOnExit).
	podnet.ServeProxyIfHelper(helperEnv, podnet.ProxyOptions{QuitQuitQuit: true})
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// bins are the binaries the namespaces run, in a world-readable directory
// because they run as uids 107, 1000 and 1337: virt-launcher (static, as in
// the image and as copied into volume containers) and a copy of this test
// binary for the proxy stand-in.
var bins = &podnet.Binaries{DirPrefix: "virtmesh-vm-bin-", Static: true}

// newNS creates a uniquely named network namespace, removed at cleanup.
func newNS(t *testing.T, role string) string {
	t.Helper()
	return podnet.NewNS(t, "vmq", role)
}
