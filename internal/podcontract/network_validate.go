package podcontract

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
)

// Validate reports every problem in c, so that the operator can refuse a
// VM before a pod is created rather than the init container failing later.
func (c NetSetupOptions) Validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	errs = append(errs, c.validate()...)
	if !validID(c.TapOwnerUID) {
		add("tapOwnerUID %d is not a valid uid", c.TapOwnerUID)
	}
	if c.TunDevice != "" && (!filepath.IsAbs(c.TunDevice) || filepath.Clean(c.TunDevice) != c.TunDevice || c.TunDevice == "/") {
		add("tunDevice %q must be a clean absolute file path", c.TunDevice)
	}

	seen := map[Port]bool{}
	for _, p := range c.Ports {
		if p.Protocol != "TCP" && p.Protocol != "UDP" {
			add("port %d: protocol %q must be TCP or UDP", p.Port, p.Protocol)
		}
		if p.Port == 0 {
			add("port 0 (%s) is not a valid port", p.Protocol)
		}
		if seen[p] {
			add("port %s/%d is declared twice", p.Protocol, p.Port)
		}
		seen[p] = true
		if c.Mesh != nil && slices.Contains(ReservedMeshPorts, p.Port) {
			add("port %s/%d is reserved by the mesh proxy and cannot be a VM port", p.Protocol, p.Port)
		}
	}
	if c.Mesh != nil {
		errs = append(errs, c.Mesh.validate(c)...)
	}
	return errors.Join(errs...)
}

// maxID is the largest uid or gid: (uid_t)-1 means "none" to the kernel, and
// iptables' owner match takes 0 to 2^32-2.
const maxID = 1<<32 - 2

func validID(id int64) bool { return id >= 0 && id <= maxID }

func (m *MeshCapture) validate(c NetSetupOptions) []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if !validID(m.ProxyUID) || !validID(m.ProxyGID) {
		add("mesh: proxy uid %d and gid %d must be valid ids (0 to %d)", m.ProxyUID, m.ProxyGID, maxID)
	}
	if m.InboundCapturePort == 0 || m.OutboundCapturePort == 0 {
		add("mesh: capture ports must be set, got inbound %d outbound %d", m.InboundCapturePort, m.OutboundCapturePort)
	} else if m.InboundCapturePort == m.OutboundCapturePort {
		add("mesh: inbound and outbound capture ports must differ, both are %d", m.InboundCapturePort)
	}
	for _, list := range []struct {
		name  string
		ports []uint16
	}{{"excludeInboundPorts", m.ExcludeInboundPorts}, {"excludeOutboundPorts", m.ExcludeOutboundPorts}, {"unproxiedPorts", m.UnproxiedPorts}} {
		for _, p := range list.ports {
			if p == 0 {
				add("mesh: %s: port 0 is not a valid port", list.name)
			}
		}
	}
	for _, p := range m.UnproxiedPorts {
		if slices.Contains(ReservedMeshPorts, p) || p == m.InboundCapturePort || p == m.OutboundCapturePort {
			add("mesh: unproxied port %d is a proxy port and cannot be forwarded to the VM", p)
		}
		if len(c.Ports) > 0 && !slices.Contains(c.Ports, Port{Protocol: "TCP", Port: p}) {
			add("mesh: unproxied port %d is not one of the VM's declared TCP ports", p)
		}
	}
	for _, s := range m.IncludeOutboundCIDRs {
		if s == "*" {
			if len(m.IncludeOutboundCIDRs) != 1 {
				add("mesh: includeOutboundCIDRs: \"*\" must be the only entry")
			}
			continue
		}
		if _, err := netip.ParsePrefix(s); err != nil {
			add("mesh: includeOutboundCIDRs: %w", err)
		}
	}
	for _, p := range m.ExcludeOutboundCIDRs {
		if !p.IsValid() {
			add("mesh: excludeOutboundCIDRs: invalid prefix %q", p)
		}
	}
	return errs
}

// validIfName accepts the interface names net-setup can both create and
// match in iptables rules: the kernel's dev_valid_name (1 to 15 bytes, not
// "." or "..", no '/', ':' or white space) narrowed to letters, digits and
// "-_." so that iptables-restore reads the name literally: it splits on
// blanks and quotes, takes a lone "!" for a negation and a trailing "+" for
// a wildcard matching every interface with that prefix.
func validIfName(name string) error {
	switch {
	case name == "":
		return errors.New("interface name must not be empty")
	case len(name) > 15:
		return fmt.Errorf("interface name %q is longer than 15 characters", name)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	case strings.IndexFunc(name, func(r rune) bool { return !ifNameChar(r) }) >= 0:
		return fmt.Errorf("interface name %q may only contain letters, digits, '-', '_' and '.'", name)
	}
	return nil
}

func ifNameChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
}

// Validate reports every problem in n.
func (n VMNetwork) Validate() error { return errors.Join(n.validate()...) }

func (n VMNetwork) validate() []error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	for _, f := range []struct{ field, name string }{
		{"podInterface", n.PodInterface}, {"bridge", n.Bridge}, {"tap", n.Tap},
	} {
		if err := validIfName(f.name); err != nil {
			add("%s: %w", f.field, err)
		}
	}
	if n.PodInterface == n.Bridge || n.PodInterface == n.Tap || n.Bridge == n.Tap {
		add("podInterface, bridge and tap must be three different interfaces, got %q, %q, %q", n.PodInterface, n.Bridge, n.Tap)
	}
	switch {
	case !n.VMCIDR.IsValid() || !n.VMCIDR.Addr().Is4():
		add("vmCIDR %q must be an IPv4 prefix", n.VMCIDR)
	case n.VMCIDR.Bits() > 30:
		add("vmCIDR %s is too small: it needs room for a gateway and a VM address", n.VMCIDR)
	case n.VMCIDR != n.VMCIDR.Masked():
		add("vmCIDR %s has host bits set, did you mean %s", n.VMCIDR, n.VMCIDR.Masked())
	}
	switch {
	case !n.VMIPv6CIDR.IsValid() || !n.VMIPv6CIDR.Addr().Is6() || n.VMIPv6CIDR.Addr().Is4In6():
		add("vmIPv6CIDR %q must be an IPv6 prefix", n.VMIPv6CIDR)
	case n.VMIPv6CIDR.Bits() > 126:
		add("vmIPv6CIDR %s is too small: it needs room for a gateway and a VM address", n.VMIPv6CIDR)
	case n.VMIPv6CIDR != n.VMIPv6CIDR.Masked():
		add("vmIPv6CIDR %s has host bits set, did you mean %s", n.VMIPv6CIDR, n.VMIPv6CIDR.Masked())
	}
	return errs
}
