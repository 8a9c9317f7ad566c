package dataplane

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/nclient6"
	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// Addresses. Only documentation and private ranges, and only inside the
// namespaces the tests create.
const (
	podIP       = podnet.PodIP
	clientIP    = podnet.ClientIP
	upstreamIP  = podnet.UpstreamIP
	podIP6      = "fd00:10:244:1::5"
	podGW6      = "fd00:10:244:1::1"
	clientIP6   = "2001:db8:1::10"
	upstreamIP6 = "2001:db8:3::20"
	upstreamGW6 = "2001:db8:3::1"
	podMTU      = 1450
	vmMAC       = "52:54:00:00:00:02"

	resolvConf = "search default.svc.cluster.local svc.cluster.local cluster.local\n" +
		"nameserver 10.96.0.10\nnameserver fd00:10:96::a\noptions ndots:5\n"
)

type world struct {
	client, upstream, pod, vm string
	cfg                       podcontract.NetSetupOptions
	launcher, helper          string
	// proxy is the proxy stand-in (mesh only); its stderr logs every
	// connection it accepted.
	proxy       *podnet.Proc
	setupOutput string
	lease       *nclient4.Lease
	lease6      *dhcpv6.Message
}

// newWorld builds the namespaces, runs net-setup in the pod, starts the
// DHCP server and the proxy stand-in (in the mesh), configures the guest
// from DHCP and starts the servers. ipv6 makes the pod (and the client and
// upstream) dual-stack; the VM gets IPv6 only with cfg.IPv6, and then the
// world plays the kubelet and sets net.ipv6.conf.all.forwarding=1 in the
// pod first, as it does for the pod's securityContext.sysctls.
func newWorld(t *testing.T, cfg podcontract.NetSetupOptions, ipv6 bool) *world {
	t.Helper()
	w := wireWorld(t, cfg, ipv6)
	if ipv6 && cfg.IPv6 {
		podnet.WriteSysctl(t, w.pod, podcontract.IPv6ForwardingSysctl, "1")
	}
	w.setupOutput = w.netSetup(t)
	w.startPod(t, ipv6 && cfg.IPv6)
	return w
}

// wireWorld builds and wires the namespaces; nothing runs in the pod yet.
func wireWorld(t *testing.T, cfg podcontract.NetSetupOptions, ipv6 bool) *world {
	t.Helper()
	requireEnv(t)
	launcher, proxyBin := bins.Get(t)
	w := &world{
		client: newNS(t, "client"), upstream: newNS(t, "up"), pod: newNS(t, "pod"), vm: newNS(t, "vm"),
		cfg: cfg, launcher: launcher, helper: proxyBin,
	}
	for _, ns := range []string{w.client, w.upstream, w.pod, w.vm} {
		// No duplicate address detection: addresses are usable at once, so
		// nothing has to wait for them.
		podnet.WriteSysctl(t, ns, "net.ipv6.conf.all.accept_dad", "0")
		podnet.WriteSysctl(t, ns, "net.ipv6.conf.default.accept_dad", "0")
	}

	// client <-> pod eth0, client <-> upstream; the client routes between.
	podnet.Wire(t, podnet.Topology{Client: w.client, Upstream: w.upstream, Pod: w.pod, PodMTU: podMTU})
	if ipv6 {
		for _, c := range [][]string{
			{w.client, "addr", "add", podGW6 + "/64", "dev", "topod", "nodad"},
			{w.client, "addr", "add", upstreamGW6 + "/64", "dev", "toup", "nodad"},
			{w.client, "addr", "add", clientIP6 + "/128", "dev", "lo"},
			{w.pod, "addr", "add", podIP6 + "/64", "dev", "eth0", "nodad"},
			{w.pod, "-6", "route", "add", "default", "via", podGW6},
			{w.upstream, "addr", "add", upstreamIP6 + "/64", "dev", "eth0", "nodad"},
			{w.upstream, "-6", "route", "add", "default", "via", upstreamGW6},
		} {
			podnet.Run(t, append([]string{"ip", "-n"}, c...)...)
		}
		podnet.WriteSysctl(t, w.client, "net.ipv6.conf.all.forwarding", "1")
	}
	return w
}

// startPod does what follows net-setup: the guest's NIC, DHCP (DHCPv6 with
// vmIPv6), the proxy stand-in in the mesh and the servers.
func (w *world) startPod(t *testing.T, vmIPv6 bool) {
	t.Helper()
	cfg := w.cfg
	// The guest: a veth in place of tap0 (see the package doc).
	podnet.Run(t, "ip", "link", "add", "vmport0", "netns", w.pod, "mtu", strconv.Itoa(podMTU), "type", "veth", "peer", "name", "eth0", "netns", w.vm, "address", vmMAC)
	podnet.Run(t, "ip", "-n", w.pod, "link", "set", "vmport0", "master", cfg.Bridge, "up")
	podnet.Run(t, "ip", "-n", w.vm, "link", "set", "eth0", "up")

	w.startDHCP(t)
	w.configureGuest(t, vmIPv6)

	if cfg.Mesh != nil {
		w.proxy = podnet.StartInNS(t, w.pod, "proxy-standin", uint32(cfg.Mesh.ProxyUID), nil, []string{helperEnv + "=proxy"}, w.helper)
		w.proxy.WaitLine(t, "READY", 10*time.Second)
	}
	// The guest's servers, including ones on the proxy's ports: if traffic
	// for those ever reached the guest, the answer would say "VM".
	for _, port := range []int{2222, 9080, 15000, 15021} {
		podnet.ServeTCP(t, w.vm, port, "VM")
	}
	// UDP servers too, one on a port the proxy reserves (its DNS proxy's).
	for _, port := range []int{5353, 15053} {
		serveUDP(t, w.vm, port, fmt.Sprintf("VM-UDP port=%d", port))
	}
	podnet.ServeTCP(t, w.upstream, 8080, "UPSTREAM")
	serveUDP(t, w.upstream, 5353, "UPSTREAM-UDP")
}

// netSetup runs `virt-launcher net-setup` the way the init container does:
// root with only CAP_NET_ADMIN and CAP_NET_RAW, and /proc/sys read-only as
// the container runtime mounts it. Returns its output.
func (w *world) netSetup(t *testing.T) string {
	t.Helper()
	return podnet.NSExec(t, w.pod, w.netSetupCommand()...)
}

func (w *world) netSetupCommand() []string {
	c := podnet.Container{Setup: []string{podnet.ReadOnlyProcSys}, Caps: "-all,+net_admin,+net_raw"}
	return c.Command(append([]string{w.launcher, "net-setup"}, w.cfg.Args()...)...)
}

func (w *world) startDHCP(t *testing.T) {
	t.Helper()
	dir := filepath.Dir(w.launcher)
	rc := filepath.Join(dir, w.pod+"-resolv.conf")
	if err := os.WriteFile(rc, []byte(resolvConf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(rc) })
	// The compute container: uid 107, CAP_NET_BIND_SERVICE only.
	args := append([]string{w.launcher, "dhcp-server"}, w.cfg.Args()...)
	args = append(args, "--resolv-conf="+rc, "--hostname=testvm")
	p := podnet.StartInNS(t, w.pod, "virt-launcher", 107, []uintptr{unix.CAP_NET_BIND_SERVICE}, nil, args...)
	p.WaitStderr(t, "Serving DHCP", 10*time.Second)
}

// configureGuest does what the guest's DHCP client would: it asks our
// server and applies the address, MTU and default route it gets.
func (w *world) configureGuest(t *testing.T, ipv6 bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var client *nclient4.Client
	podnet.MustInNS(t, w.vm, func() (err error) {
		client, err = nclient4.New("eth0", nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(5))
		return err
	})
	lease, err := client.Request(ctx)
	client.Close()
	if err != nil {
		t.Fatalf("DHCPv4 from the guest: %v", err)
	}
	w.lease = lease
	ack := lease.ACK
	ones, _ := net.IPMask(ack.SubnetMask()).Size()
	mtu := "1500"
	if b := ack.Options.Get(dhcpv4.OptionInterfaceMTU); len(b) == 2 {
		mtu = strconv.Itoa(int(b[0])<<8 | int(b[1]))
	}
	podnet.Run(t, "ip", "-n", w.vm, "link", "set", "eth0", "mtu", mtu)
	podnet.Run(t, "ip", "-n", w.vm, "addr", "add", fmt.Sprintf("%s/%d", ack.YourIPAddr, ones), "dev", "eth0")
	if r := ack.Router(); len(r) > 0 {
		podnet.Run(t, "ip", "-n", w.vm, "route", "add", "default", "via", r[0].String())
	}
	if !ipv6 {
		return
	}
	var c6 *nclient6.Client
	podnet.MustInNS(t, w.vm, func() (err error) {
		c6, err = nclient6.New("eth0", nclient6.WithTimeout(2*time.Second), nclient6.WithRetry(5))
		return err
	})
	defer c6.Close()
	adv, err := c6.Solicit(ctx)
	if err != nil {
		t.Fatalf("DHCPv6 Solicit from the guest: %v", err)
	}
	reply, err := c6.Request(ctx, adv)
	if err != nil {
		t.Fatalf("DHCPv6 Request from the guest: %v", err)
	}
	w.lease6 = reply
	ia := reply.Options.OneIANA()
	if ia == nil || ia.Options.OneAddress() == nil {
		t.Fatalf("DHCPv6 reply without an address: %s", reply.Summary())
	}
	// DHCPv6 carries no prefix or route (router advertisements would): the
	// on-link prefix and default route are what an RA from the bridge
	// would give the guest.
	gw := podcontract.Gateway(w.cfg.VMIPv6CIDR)
	podnet.Run(t, "ip", "-n", w.vm, "addr", "add", ia.Options.OneAddress().IPv6Addr.String()+"/128", "dev", "eth0", "nodad")
	podnet.Run(t, "ip", "-n", w.vm, "-6", "route", "add", w.cfg.VMIPv6CIDR.String(), "dev", "eth0")
	podnet.Run(t, "ip", "-n", w.vm, "-6", "route", "add", "default", "via", gw.String())
}

// dialAs connects to addr from the pod as uid (owner matches see that uid)
// and returns the lines received, or "DIAL-ERROR <err>".
func (w *world) dialAs(t *testing.T, uid uint32, addr string) []string {
	t.Helper()
	p := podnet.StartInNS(t, w.pod, "dial", uid, nil, []string{helperEnv + "=dial", dialEnv + "=" + addr}, w.helper)
	p.Wait(t, 15*time.Second)
	return strings.Split(strings.TrimSpace(p.Stdout()), "\n")
}

// serveUDP answers every datagram with "<banner> saw=<peer>".
func serveUDP(t *testing.T, ns string, port int, banner string) {
	t.Helper()
	var pc net.PacketConn
	podnet.MustInNS(t, ns, func() (err error) {
		pc, err = net.ListenPacket("udp", ":"+strconv.Itoa(port))
		return err
	})
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			_, peer, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			fmt.Fprintf(dgramWriter{pc, peer}, "%s saw=%s\n", banner, peer)
		}
	}()
}

type dgramWriter struct {
	pc   net.PacketConn
	peer net.Addr
}

func (d dgramWriter) Write(b []byte) (int, error) { return d.pc.WriteTo(b, d.peer) }

// talk connects from ns (optionally from a local address) and returns the
// lines received until the other side closes.
func talk(t *testing.T, ns, local, remote string) []string {
	t.Helper()
	var c net.Conn
	podnet.MustInNS(t, ns, func() (err error) {
		d := net.Dialer{Timeout: 5 * time.Second}
		if local != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(local)}
		}
		c, err = d.Dial("tcp", remote)
		return err
	})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	var lines []string
	s := bufio.NewScanner(c)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("reading from %s: %v (got %q)", remote, err, lines)
	}
	return lines
}

// udpAsk sends one datagram from ns and returns the answer.
func udpAsk(t *testing.T, ns, remote string) string {
	t.Helper()
	got, err := udpExchange(t, ns, "", remote)
	if err != nil {
		t.Fatalf("UDP to %s: %v", remote, err)
	}
	return got
}

// udpExchange sends one datagram from ns (optionally from a local address)
// and returns the answer or why there was none (an ICMP port unreachable
// shows as connection refused).
func udpExchange(t *testing.T, ns, local, remote string) (string, error) {
	t.Helper()
	var c net.Conn
	podnet.MustInNS(t, ns, func() (err error) {
		var d net.Dialer
		if local != "" {
			d.LocalAddr = &net.UDPAddr{IP: net.ParseIP(local)}
		}
		c, err = d.Dial("udp", remote)
		return err
	})
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("query")); err != nil {
		return "", err
	}
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(buf[:n])), nil
}
