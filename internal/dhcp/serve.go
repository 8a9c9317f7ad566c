package dhcp

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/go-logr/logr"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/dhcpv6/server6"
)

// Serve answers DHCPv4 (and DHCPv6 when o.VMAddressIPv6 is set) on
// o.Interface until ctx is cancelled. The sockets are bound to the bridge
// (SO_BINDTODEVICE, unprivileged since Linux 5.7) on ports 67 and 547, which
// needs CAP_NET_BIND_SERVICE and nothing else. ready, if not nil, is closed
// once the sockets are bound.
func Serve(ctx context.Context, o Options, log logr.Logger, ready chan<- struct{}) error {
	s4, err := server4.NewServer(o.Interface, nil, func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		handle4(o, log, conn, peer, m)
	})
	if err != nil {
		return fmt.Errorf("listening for DHCPv4 on %s: %w", o.Interface, err)
	}
	servers := []interface{ Serve() error }{s4}
	closers := []func() error{s4.Close}
	if o.VMAddressIPv6.IsValid() {
		s6, err := server6.NewServer(o.Interface, nil, func(conn net.PacketConn, peer net.Addr, m dhcpv6.DHCPv6) {
			handle6(o, log, conn, peer, m)
		})
		if err != nil {
			s4.Close()
			return fmt.Errorf("listening for DHCPv6 on %s: %w", o.Interface, err)
		}
		servers = append(servers, s6)
		closers = append(closers, s6.Close)
	}
	log.Info("Serving DHCP", "interface", o.Interface, "vmAddress", o.VMAddress, "vmAddressIPv6", o.VMAddressIPv6, "mtu", o.MTU)
	if ready != nil {
		close(ready)
	}

	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.Serve() }()
	}
	var first error
	select {
	case <-ctx.Done():
	case first = <-errs:
		first = fmt.Errorf("DHCP server stopped: %w", first)
	}
	for _, c := range closers {
		_ = c()
	}
	if first == nil && !errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	return first
}

// Header sizes below the DHCP payload.
const (
	ipv4Header = 20
	ipv6Header = 40
	udpHeader  = 8
)

// maxReply bounds what the server sends: one unfragmented frame on the
// bridge. Replies echo options of the request (DHCPv4's Client Identifier
// and Relay Agent Information, DHCPv6's Client ID), whose length the guest
// chooses; a request that would get a larger answer is not answered, as no
// real client sends one.
func maxReply(o Options, ipHeader int) int { return int(o.MTU) - ipHeader - udpHeader }

func handle4(o Options, log logr.Logger, conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
	resp, err := reply4(o, m)
	if err != nil {
		log.Error(err, "Building DHCPv4 reply", "client", m.ClientHWAddr)
		return
	}
	if resp == nil {
		return
	}
	b := resp.ToBytes()
	if len(b) > maxReply(o, ipv4Header) {
		log.V(1).Info("Not answering DHCPv4: the reply would not fit the guest's MTU", "request", m.MessageType(), "size", len(b), "mtu", o.MTU)
		return
	}
	if _, err := conn.WriteTo(b, peer); err != nil {
		log.Error(err, "Sending DHCPv4 reply", "client", m.ClientHWAddr, "peer", peer)
		return
	}
	log.Info("Answered DHCPv4", "request", m.MessageType(), "reply", resp.MessageType(), "client", m.ClientHWAddr.String(), "yourIP", resp.YourIPAddr)
}

func handle6(o Options, log logr.Logger, conn net.PacketConn, peer net.Addr, d dhcpv6.DHCPv6) {
	// The bridge is the guest's own link: there is no relay agent on it, so
	// a relayed message is bogus and gets no answer.
	m, ok := d.(*dhcpv6.Message)
	if !ok {
		log.V(1).Info("Ignoring relayed DHCPv6 message", "type", d.Type(), "peer", peer)
		return
	}
	resp, err := reply6(o, m)
	if err != nil {
		log.Error(err, "Building DHCPv6 reply", "peer", peer)
		return
	}
	if resp == nil {
		return
	}
	b := resp.ToBytes()
	if len(b) > maxReply(o, ipv6Header) {
		log.V(1).Info("Not answering DHCPv6: the reply would not fit the guest's MTU", "request", m.Type(), "size", len(b), "mtu", o.MTU)
		return
	}
	if _, err := conn.WriteTo(b, peer); err != nil {
		log.Error(err, "Sending DHCPv6 reply", "peer", peer)
		return
	}
	log.Info("Answered DHCPv6", "request", m.Type(), "reply", resp.Type(), "peer", peer)
}
