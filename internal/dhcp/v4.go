package dhcp

import (
	"encoding/binary"
	"fmt"
	"net"

	"github.com/insomniacslk/dhcp/dhcpv4"
)

// reply4 decides the answer to one DHCPv4 message; nil means no answer.
// There is exactly one client and one address, so there is no lease table:
// DISCOVER gets an OFFER, a REQUEST for the VM's address an ACK, a REQUEST
// for anything else a NAK (so a guest moved between pods re-discovers).
func reply4(o Options, req *dhcpv4.DHCPv4) (*dhcpv4.DHCPv4, error) {
	if req.OpCode != dhcpv4.OpcodeBootRequest {
		return nil, nil
	}
	var typ dhcpv4.MessageType
	switch req.MessageType() {
	case dhcpv4.MessageTypeDiscover:
		typ = dhcpv4.MessageTypeOffer
	case dhcpv4.MessageTypeRequest:
		if sid := req.ServerIdentifier(); sid != nil && !sid.Equal(o.Gateway.Addr().AsSlice()) {
			return nil, nil // the guest chose another server
		}
		want := req.RequestedIPAddress()
		if want == nil || want.IsUnspecified() {
			want = req.ClientIPAddr // renewing
		}
		typ = dhcpv4.MessageTypeAck
		if !want.Equal(o.VMAddress.AsSlice()) {
			typ = dhcpv4.MessageTypeNak
		}
	default:
		return nil, nil // RELEASE, DECLINE, INFORM: nothing to do with one fixed address
	}
	gw := net.IP(o.Gateway.Addr().AsSlice())
	if typ == dhcpv4.MessageTypeNak {
		return dhcpv4.NewReplyFromRequest(req,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)))
	}
	mtu := make([]byte, 2)
	binary.BigEndian.PutUint16(mtu, o.MTU)
	mods := []dhcpv4.Modifier{
		dhcpv4.WithMessageType(typ),
		dhcpv4.WithYourIP(o.VMAddress.AsSlice()),
		dhcpv4.WithServerIP(gw),
		dhcpv4.WithOption(dhcpv4.OptServerIdentifier(gw)),
		dhcpv4.WithNetmask(net.CIDRMask(o.Gateway.Bits(), 32)),
		dhcpv4.WithOption(dhcpv4.OptRouter(gw)),
		dhcpv4.WithLeaseTime(InfiniteLease),
		dhcpv4.WithGeneric(dhcpv4.OptionInterfaceMTU, mtu),
	}
	if dns := o.DNS.servers(false); len(dns) > 0 {
		ips := make([]net.IP, len(dns))
		for i, a := range dns {
			ips[i] = a.AsSlice()
		}
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(ips...)))
	}
	if len(o.DNS.Search) > 0 {
		mods = append(mods, dhcpv4.WithDomainSearchList(o.DNS.Search...))
	}
	if o.Hostname != "" {
		mods = append(mods, dhcpv4.WithOption(dhcpv4.OptHostName(o.Hostname)))
	}
	resp, err := dhcpv4.NewReplyFromRequest(req, mods...)
	if err != nil {
		return nil, fmt.Errorf("building DHCPv4 %s: %w", typ, err)
	}
	return resp, nil
}
