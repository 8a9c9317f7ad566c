package dhcp

import (
	"fmt"
	"net"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/insomniacslk/dhcp/iana"
)

// infiniteV6 is DHCPv6's infinite lifetime (0xffffffff seconds, RFC 8415 §7.7).
const infiniteV6 = time.Duration(0xffffffff) * time.Second

// reply6 decides the answer to one DHCPv6 message; nil means no answer.
// It hands out the VM's address in the client's IA_NA; routes come from
// router advertisements, which DHCPv6 cannot carry.
//
// Messages without a Client Identifier get no answer (RFC 8415 §16: the
// server discards them); they are the guest's mistake, not the server's, so
// they are not an error either: a guest must not be able to fill the
// launcher's log.
func reply6(o Options, msg *dhcpv6.Message) (*dhcpv6.Message, error) {
	if msg.GetOneOption(dhcpv6.OptionClientID) == nil {
		return nil, nil
	}
	serverID := &dhcpv6.DUIDLL{HWType: iana.HWTypeEthernet, LinkLayerAddr: o.ServerMAC}
	if sid := msg.Options.ServerID(); sid != nil && !sid.Equal(serverID) {
		return nil, nil // meant for another server
	}
	iaid := [4]byte{}
	if ia := msg.Options.OneIANA(); ia != nil {
		iaid = ia.IaId
	}
	addr := dhcpv6.OptIAAddress{
		IPv6Addr:          net.IP(o.VMAddressIPv6.AsSlice()),
		PreferredLifetime: infiniteV6,
		ValidLifetime:     infiniteV6,
	}
	mods := []dhcpv6.Modifier{
		dhcpv6.WithServerID(serverID),
		dhcpv6.WithIAID(iaid),
		dhcpv6.WithIANA(addr),
	}
	if dns := o.DNS.servers(true); len(dns) > 0 {
		ips := make([]net.IP, len(dns))
		for i, a := range dns {
			ips[i] = a.AsSlice()
		}
		mods = append(mods, dhcpv6.WithDNS(ips...))
	}
	if len(o.DNS.Search) > 0 {
		mods = append(mods, dhcpv6.WithDomainSearchList(o.DNS.Search...))
	}
	var (
		resp *dhcpv6.Message
		err  error
	)
	switch msg.Type() {
	case dhcpv6.MessageTypeSolicit:
		if msg.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
			resp, err = dhcpv6.NewReplyFromMessage(msg, append(mods, dhcpv6.WithRapidCommit)...)
		} else {
			resp, err = dhcpv6.NewAdvertiseFromSolicit(msg, mods...)
		}
	case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeConfirm:
		resp, err = dhcpv6.NewReplyFromMessage(msg, mods...)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("building DHCPv6 reply to %s: %w", msg.Type(), err)
	}
	return resp, nil
}
