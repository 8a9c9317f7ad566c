package netsetup

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// podInterface is what net-setup learns from the CNI-configured eth0.
type podInterface struct {
	link netlink.Link
	mtu  int
	ips  []netip.Addr // global unicast addresses, IPv4 first
}

func inspectPodInterface(name string) (podInterface, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return podInterface{}, fmt.Errorf("finding pod interface %s: %w", name, err)
	}
	p := podInterface{link: link, mtu: link.Attrs().MTU}
	for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
		addrs, err := netlink.AddrList(link, fam)
		if err != nil {
			return p, fmt.Errorf("listing addresses of %s: %w", name, err)
		}
		for _, a := range addrs {
			ip, ok := netip.AddrFromSlice(a.IP)
			if ok && ip.Unmap().IsGlobalUnicast() {
				p.ips = append(p.ips, ip.Unmap())
			}
		}
	}
	return p, nil
}

func (p podInterface) hasIPv6() bool {
	for _, ip := range p.ips {
		if ip.Is6() {
			return true
		}
	}
	return false
}

// ensureBridge creates or repairs the bridge: fixed MAC, eth0's MTU, up.
func ensureBridge(name string, mtu int) (netlink.Link, error) {
	mac, _ := net.ParseMAC(podcontract.BridgeMAC)
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name, MTU: mtu, HardwareAddr: mac}}
		if err := netlink.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("creating bridge %s: %w", name, err)
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, fmt.Errorf("finding new bridge %s: %w", name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("finding bridge %s: %w", name, err)
	case link.Type() != "bridge":
		return nil, fmt.Errorf("%s exists but is a %s, not a bridge", name, link.Type())
	}
	if link.Attrs().HardwareAddr.String() != mac.String() {
		if err := netlink.LinkSetHardwareAddr(link, mac); err != nil {
			return nil, fmt.Errorf("setting MAC of %s: %w", name, err)
		}
	}
	if link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("setting MTU of %s to %d: %w", name, mtu, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bringing %s up: %w", name, err)
	}
	return link, nil
}

// ensureAddress puts the gateway address of cidr on link. IPv6 skips
// duplicate address detection: the bridge's network is private to the pod,
// and DAD would leave the address tentative (unusable) for a second or more.
func ensureAddress(link netlink.Link, cidr netip.Prefix) (netip.Prefix, error) {
	gw := netip.PrefixFrom(podcontract.Gateway(cidr), cidr.Bits())
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: gw.Addr().AsSlice(), Mask: net.CIDRMask(gw.Bits(), gw.Addr().BitLen())}}
	if gw.Addr().Is6() {
		addr.Flags = unix.IFA_F_NODAD
	}
	if err := netlink.AddrReplace(link, addr); err != nil {
		return gw, fmt.Errorf("adding %s to %s: %w", gw, link.Attrs().Name, err)
	}
	return gw, nil
}

// ensureTap creates the persistent tap QEMU uses, owned by QEMU's uid so
// the compute container needs no privilege to attach, and enslaves it.
// tunDevice is the configured tun node ("" for /dev/net/tun; see createTap).
// An existing tap is reused; only its master, MTU and state are repaired
// (the owner of a persistent tap cannot be changed without recreating it,
// which would break a QEMU that already holds it).
func ensureTap(tunDevice, name string, owner int64, mtu int, bridge netlink.Link) (netlink.Link, error) {
	link, err := netlink.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	switch {
	case errors.As(err, &notFound):
		if err := createTap(tunDevice, name, owner); err != nil {
			return nil, err
		}
		if link, err = netlink.LinkByName(name); err != nil {
			return nil, fmt.Errorf("finding new tap %s: %w", name, err)
		}
	case err != nil:
		return nil, fmt.Errorf("finding tap %s: %w", name, err)
	case link.Type() != "tuntap":
		return nil, fmt.Errorf("%s exists but is a %s, not a tap", name, link.Type())
	}
	if link.Attrs().MTU != mtu {
		if err := netlink.LinkSetMTU(link, mtu); err != nil {
			return nil, fmt.Errorf("setting MTU of %s to %d: %w", name, mtu, err)
		}
	}
	if link.Attrs().MasterIndex != bridge.Attrs().Index {
		if err := netlink.LinkSetMaster(link, bridge); err != nil {
			return nil, fmt.Errorf("attaching %s to %s: %w", name, bridge.Attrs().Name, err)
		}
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("bringing %s up: %w", name, err)
	}
	return link, nil
}

// ensureLoopbackAddress adds addr to lo (idempotent).
func ensureLoopbackAddress(addr string) error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("finding lo: %w", err)
	}
	a, err := netlink.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("parsing %s: %w", addr, err)
	}
	a.Flags = unix.IFA_F_NODAD
	if err := netlink.AddrReplace(lo, a); err != nil {
		return fmt.Errorf("adding %s to lo: %w", addr, err)
	}
	return nil
}
