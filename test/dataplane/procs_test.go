package dataplane

import (
	"os"
	"testing"

	"virtmesh.io/virtmesh/internal/testing/podnet"
)

const helperEnv = "VIRTMESH_DATAPLANE_HELPER"

func TestMain(m *testing.M) {
	podnet.ServeProxyIfHelper(helperEnv, podnet.ProxyOptions{})
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// bins holds the binaries the namespaces run: our virt-launcher, built
// once, and a copy of this test binary for the proxy stand-in.
var bins = &podnet.Binaries{DirPrefix: "virtmesh-dataplane-"}
