// Command proxy-standin is the local cluster's STAND-IN for Istio's proxy
// image (pilot-agent + Envoy): NOT Envoy, and not a proxy to rely on. No
// Envoy binary can be had on VirtMesh's build machines, so the
// localhost/virtmesh/proxy-standin image runs this in the istio-proxy
// sidecar instead: as uid 1337 it takes the connections the launcher pod's
// rules capture on 15001 (outbound) and 15006 (inbound), reads their
// original destination (SO_ORIGINAL_DST) and forwards them unchanged, as
// Envoy's passthrough would; 15021 answers the kubelet's readiness probe
// (GET /healthz/ready) and 127.0.0.1:15020 pilot-agent's POST
// /quitquitquit. Every connection is logged on stderr ("CONN inbound
// from=… to=…", "FORWARD inbound orig=… from=…"), so a test can show what
// passed the proxy. It has no mTLS, no xDS and no policy.
//
// It accepts and ignores pilot-agent's arguments ("proxy sidecar …"), and
// refuses "istio-iptables" (istio-init's job), which it cannot do.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"virtmesh.io/virtmesh/internal/proxystandin"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "istio-iptables" {
		fmt.Fprintln(os.Stderr, "proxy-standin: STAND-IN for Istio's proxy: istio-iptables is not implemented (VirtMesh's net-setup renders the launcher pod's rules)")
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "proxy-standin: STAND-IN for Istio's proxy (not Envoy: no mTLS, no xDS, no policy); ignoring arguments %q\n", strings.Join(os.Args[1:], " "))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "proxy-standin: %v: exiting\n", s)
		os.Exit(0)
	}()
	err := proxystandin.Run(proxystandin.Options{
		QuitQuitQuit: true,
		Transparent:  true,
		HTTPHealth:   true,
		IPv6Optional: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "proxy-standin:", err)
		os.Exit(1)
	}
}
