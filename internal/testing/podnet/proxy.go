package podnet

import (
	"fmt"
	"os"

	"virtmesh.io/virtmesh/internal/proxystandin"
)

// ProxyUID is the uid the proxy stand-in runs as (Istio's proxy uid).
const ProxyUID = proxystandin.UID

// ProxyOptions select the proxy stand-in's optional parts; the suites use
// its test mode (not Transparent: the client reads "PROXY <listener>
// orig=<addr>" first).
type ProxyOptions = proxystandin.Options

// ServeProxyIfHelper is called first thing in TestMain. When the
// environment variable env is "proxy", this process is the proxy stand-in
// (a copy of the test binary started by the suite, see [Binaries]): it runs
// [proxystandin.Run] and exits, 1 on error. Otherwise it returns at once.
func ServeProxyIfHelper(env string, o ProxyOptions) {
	if os.Getenv(env) != "proxy" {
		return
	}
	if err := proxystandin.Run(o); err != nil {
		fmt.Fprintln(os.Stderr, "proxy:", err)
		os.Exit(1)
	}
	os.Exit(0)
}
