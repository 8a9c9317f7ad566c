package dataplane

import (
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"virtmesh.io/virtmesh/internal/testing/podnet"
)

const helperEnv = "VIRTMESH_DATAPLANE_HELPER"

// dialEnv is the address the "dial" helper connects to.
const dialEnv = "VIRTMESH_DATAPLANE_DIAL"

func TestMain(m *testing.M) {
	podnet.ServeProxyIfHelper(helperEnv, podnet.ProxyOptions{})
	if os.Getenv(helperEnv) == "dial" {
		os.Exit(dial(os.Getenv(dialEnv)))
	}
	code := m.Run()
	bins.Remove()
	os.Exit(code)
}

// bins holds the binaries the namespaces run: our virt-launcher, built
// once, and a copy of this test binary for the proxy stand-in.
var bins = &podnet.Binaries{DirPrefix: "virtmesh-dataplane-"}

// dial is a pod-local client running as another uid (a copy of the test
// binary started by [world.dialAs]): it connects to addr and copies what it
// receives to stdout, or prints "DIAL-ERROR <err>".
func dial(addr string) int {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		fmt.Printf("DIAL-ERROR %v\n", err)
		return 1
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(os.Stdout, c); err != nil {
		fmt.Printf("DIAL-ERROR %v\n", err)
		return 1
	}
	return 0
}
