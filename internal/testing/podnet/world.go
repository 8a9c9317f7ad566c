package podnet

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
)

// Addresses of the common topology ([Wire]). Only documentation and
// private ranges, and only inside the namespaces the tests create.
const (
	PodIP      = "10.244.1.5"
	PodGW      = "10.244.1.1"
	ClientIP   = "192.0.2.10"
	UpstreamIP = "198.51.100.20"
	UpstreamGW = "198.51.100.1"
)

// Topology names the namespaces [Wire] connects.
type Topology struct {
	Client, Upstream, Pod string
	// PodMTU, if not 0, is the MTU of the pod's eth0 veth pair.
	PodMTU int
}

// Wire connects the namespaces like a node would: a veth pair between the
// client ("topod", PodGW) and the pod (eth0, PodIP, default route via
// PodGW), another between the client ("toup", UpstreamGW) and the upstream
// (eth0, UpstreamIP, default route via UpstreamGW). The client holds
// ClientIP on lo and forwards IPv4 between the two.
func Wire(t *testing.T, n Topology) {
	t.Helper()
	podLink := []string{"ip", "link", "add", "eth0", "netns", n.Pod, "type", "veth", "peer", "name", "topod", "netns", n.Client}
	if n.PodMTU != 0 {
		mtu := strconv.Itoa(n.PodMTU)
		podLink = []string{"ip", "link", "add", "eth0", "netns", n.Pod, "mtu", mtu, "type", "veth", "peer", "name", "topod", "netns", n.Client, "mtu", mtu}
	}
	Run(t, podLink...)
	Run(t, "ip", "link", "add", "eth0", "netns", n.Upstream, "type", "veth", "peer", "name", "toup", "netns", n.Client)
	for _, c := range [][]string{
		{n.Client, "addr", "add", PodGW + "/24", "dev", "topod"},
		{n.Client, "addr", "add", UpstreamGW + "/24", "dev", "toup"},
		{n.Client, "addr", "add", ClientIP + "/32", "dev", "lo"},
		{n.Client, "link", "set", "topod", "up"},
		{n.Client, "link", "set", "toup", "up"},
		{n.Pod, "addr", "add", PodIP + "/24", "dev", "eth0"},
		{n.Pod, "link", "set", "eth0", "up"},
		{n.Pod, "route", "add", "default", "via", PodGW},
		{n.Upstream, "addr", "add", UpstreamIP + "/24", "dev", "eth0"},
		{n.Upstream, "link", "set", "eth0", "up"},
		{n.Upstream, "route", "add", "default", "via", UpstreamGW},
	} {
		Run(t, append([]string{"ip", "-n"}, c...)...)
	}
	WriteSysctl(t, n.Client, "net.ipv4.ip_forward", "1")
}

// Shell commands for [Container.Setup].
const (
	// ReadOnlyProcSys makes /proc/sys read-only, as container runtimes
	// mount it.
	ReadOnlyProcSys = `mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys`
	// HideHostTun covers the host's /dev/net with an empty tmpfs, so a
	// process that opened /dev/net/tun by name would fail as it does in a
	// real container.
	HideHostTun = `mount -t tmpfs -o mode=0755 tmpfs /dev/net`
)

// Container describes how to run a command the way a container runtime
// would, with util-linux's unshare and setpriv.
type Container struct {
	// Setup are shell commands run first in a private mount namespace
	// (ReadOnlyProcSys, HideHostTun).
	Setup []string
	// UID, if not nil, is the uid and gid to switch to (supplementary
	// groups cleared); otherwise the command keeps the caller's (root).
	UID *int
	// Caps is setpriv's capability list for the inheritable, ambient and
	// bounding sets, e.g. "-all,+net_admin".
	Caps string
}

// Command returns the command line that runs argv in the container.
func (c Container) Command(argv ...string) []string {
	script := strings.Join(append(append([]string(nil), c.Setup...), `exec "$@"`), " && ")
	args := []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", "setpriv"}
	if c.UID != nil {
		args = append(args, fmt.Sprintf("--reuid=%d", *c.UID), fmt.Sprintf("--regid=%d", *c.UID), "--clear-groups")
	}
	args = append(args, "--inh-caps="+c.Caps, "--ambient-caps="+c.Caps, "--bounding-set="+c.Caps, "--")
	return append(args, argv...)
}

// ServeTCP listens on port in ns and answers every connection with
// "<banner> port=<p> saw=<peer>"; the listener closes at cleanup.
func ServeTCP(t *testing.T, ns string, port int, banner string) {
	t.Helper()
	var ln net.Listener
	MustInNS(t, ns, func() (err error) {
		ln, err = net.Listen("tcp", ":"+strconv.Itoa(port))
		return err
	})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s port=%d saw=%s\n", banner, port, c.RemoteAddr())
			c.Close()
		}
	}()
}
