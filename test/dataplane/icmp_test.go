package dataplane

import (
	"net"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"virtmesh.io/virtmesh/internal/testing/podnet"
)

// pingAndCapture sends one ICMP (or, to an IPv6 dst, ICMPv6) echo from ns
// to dst and returns the source address the destination namespace saw on
// the request. The reply coming back also shows the return path works:
// nothing outside the pod routes to the VM's network, so only a
// masqueraded request can be answered.
func pingAndCapture(t *testing.T, ns, dstNS, dst string) string {
	t.Helper()
	network, wildcard, proto := "ip4:icmp", "0.0.0.0", 1
	var echo, reply icmp.Type = ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply
	if net.ParseIP(dst).To4() == nil {
		// The kernel computes ICMPv6 checksums on raw sockets.
		network, wildcard, proto = "ip6:ipv6-icmp", "::", 58
		echo, reply = ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply
	}
	var sniff, ping *icmp.PacketConn
	podnet.MustInNS(t, dstNS, func() (err error) {
		sniff, err = icmp.ListenPacket(network, wildcard) // sees every ICMP packet arriving
		return err
	})
	defer sniff.Close()
	podnet.MustInNS(t, ns, func() (err error) {
		ping, err = icmp.ListenPacket(network, wildcard)
		return err
	})
	defer ping.Close()

	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: echo, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("virtmesh")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ping.WriteTo(b, &net.IPAddr{IP: net.ParseIP(dst)}); err != nil {
		t.Fatalf("sending ICMP echo: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	_ = sniff.SetReadDeadline(deadline)
	_ = ping.SetReadDeadline(deadline)

	var seen string
	buf := make([]byte, 1500)
	for seen == "" {
		n, peer, err := sniff.ReadFrom(buf)
		if err != nil {
			t.Fatalf("the destination saw no echo request: %v", err)
		}
		if m, err := icmp.ParseMessage(proto, buf[:n]); err == nil && m.Type == echo {
			seen = peer.(*net.IPAddr).IP.String()
		}
	}
	for {
		n, _, err := ping.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no echo reply came back to %s: %v", ns, err)
		}
		if m, err := icmp.ParseMessage(proto, buf[:n]); err == nil && m.Type == reply {
			return seen
		}
	}
}
