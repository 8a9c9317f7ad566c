package dhcp

import (
	"fmt"
	"net"
	"net/netip"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// InfiniteLease is DHCPv4's "infinite" lease time (RFC 2131 §3.3): the
// guest's address is tied to the pod's lifetime, never to a timer.
const InfiniteLease = 0xffffffff

// Options is what the server hands out.
type Options struct {
	Interface string // the bridge, k6t-eth0
	// ServerMAC identifies the server in DHCPv6 (DUID-LL): the bridge MAC.
	ServerMAC net.HardwareAddr
	Gateway   netip.Prefix // 10.0.2.1/24: server address, router and netmask
	VMAddress netip.Addr   // 10.0.2.2
	// GatewayIPv6/VMAddressIPv6 are set only when the VM has IPv6
	// (VMNetwork.IPv6 on a pod that has IPv6).
	GatewayIPv6   netip.Prefix
	VMAddressIPv6 netip.Addr
	DNS           ResolvConf
	Hostname      string
	MTU           uint16
}

// OptionsFor derives the server's options from the VM network net-setup
// plumbed (both get it from the pod's rendered flags), so DHCP and NAT agree
// on the VM's address.
func OptionsFor(cfg podcontract.VMNetwork, withIPv6 bool, dns ResolvConf, hostname string, mtu int) (Options, error) {
	if err := cfg.Validate(); err != nil {
		return Options{}, fmt.Errorf("invalid VM network: %w", err)
	}
	if mtu < 68 || mtu > 65535 {
		return Options{}, fmt.Errorf("MTU %d is outside 68..65535", mtu)
	}
	mac, _ := net.ParseMAC(podcontract.BridgeMAC)
	o := Options{
		Interface: cfg.Bridge,
		ServerMAC: mac,
		Gateway:   netip.PrefixFrom(podcontract.Gateway(cfg.VMCIDR), cfg.VMCIDR.Bits()),
		VMAddress: podcontract.VMAddress(cfg.VMCIDR),
		DNS:       dns,
		Hostname:  hostname,
		MTU:       uint16(mtu),
	}
	if withIPv6 {
		o.GatewayIPv6 = netip.PrefixFrom(podcontract.Gateway(cfg.VMIPv6CIDR), cfg.VMIPv6CIDR.Bits())
		o.VMAddressIPv6 = podcontract.VMAddress(cfg.VMIPv6CIDR)
	}
	return o, nil
}
