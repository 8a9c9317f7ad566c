// Package netcfg builds net-setup options for tests: the scenarios the rule
// goldens, the flag round trips and the validation tests share.
package netcfg

import (
	"net/netip"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// WithMesh puts c in the mesh with Istio's default capture, then applies edit.
func WithMesh(c podcontract.NetSetupOptions, edit func(m *podcontract.MeshCapture)) podcontract.NetSetupOptions {
	c.Mesh = podcontract.DefaultMesh()
	if edit != nil {
		edit(c.Mesh)
	}
	return c
}

// WithPorts declares TCP 9080, UDP 5353 and TCP 22.
func WithPorts(c podcontract.NetSetupOptions) podcontract.NetSetupOptions {
	c.Ports = []podcontract.Port{{Protocol: "TCP", Port: 9080}, {Protocol: "UDP", Port: 5353}, {Protocol: "TCP", Port: 22}}
	return c
}

// WithVMCIDRs moves the VM to 10.11.0.0/16 and fd12:3456::/64.
func WithVMCIDRs(c podcontract.NetSetupOptions) podcontract.NetSetupOptions {
	c.VMCIDR = netip.MustParsePrefix("10.11.0.0/16")
	c.VMIPv6CIDR = netip.MustParsePrefix("fd12:3456::/64")
	return c
}

// WithIPv6 gives the VM IPv6 (--vm-ipv6).
func WithIPv6(c podcontract.NetSetupOptions) podcontract.NetSetupOptions {
	c.IPv6 = true
	return c
}

// Edit returns DefaultNetSetupOptions changed by edit.
func Edit(edit func(c *podcontract.NetSetupOptions)) podcontract.NetSetupOptions {
	c := podcontract.DefaultNetSetupOptions()
	edit(&c)
	return c
}

// Scenarios covers mesh/no mesh × ports/no ports × include CIDRs × custom VM
// CIDR, plus one with every exclusion and non-default proxy ids; the VM is
// IPv4-only in those, and the "-vmipv6" ones repeat the main cases with
// IPv6 for the VM.
func Scenarios() map[string]podcontract.NetSetupOptions {
	s := scenarios()
	for _, name := range []string{"nomesh-allports", "nomesh-ports", "mesh-allports", "mesh-ports", "mesh-ports-vmcidr", "mesh-ports-exclusions"} {
		s[name+"-vmipv6"] = WithIPv6(s[name])
	}
	return s
}

func scenarios() map[string]podcontract.NetSetupOptions {
	d := podcontract.DefaultNetSetupOptions()
	includes := func(m *podcontract.MeshCapture) {
		m.IncludeOutboundCIDRs = []string{"198.51.100.0/24", "2001:db8:3::/64"}
	}
	return map[string]podcontract.NetSetupOptions{
		"nomesh-allports":             d,
		"nomesh-ports":                WithPorts(d),
		"nomesh-ports-vmcidr":         WithVMCIDRs(WithPorts(d)),
		"mesh-allports":               WithMesh(d, nil),
		"mesh-ports":                  WithMesh(WithPorts(d), nil),
		"mesh-allports-vmcidr":        WithMesh(WithVMCIDRs(d), nil),
		"mesh-ports-include-cidrs":    WithMesh(WithPorts(d), includes),
		"mesh-allports-include-cidrs": WithMesh(d, includes),
		"mesh-ports-vmcidr":           WithMesh(WithVMCIDRs(WithPorts(d)), nil),
		"nomesh-allports-vmcidr":      WithVMCIDRs(d),
		"mesh-allports-include-none":  WithMesh(d, func(m *podcontract.MeshCapture) { m.IncludeOutboundCIDRs = []string{} }),
		"mesh-ports-exclusions": WithMesh(WithPorts(d), func(m *podcontract.MeshCapture) {
			m.UnproxiedPorts = []uint16{22}
			m.ExcludeInboundPorts = []uint16{8443, 15021}
			m.ExcludeOutboundPorts = []uint16{3306}
			m.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32"), netip.MustParsePrefix("fd00:ec2::254/128")}
			m.ProxyUID, m.ProxyGID = 1234, 5678
			m.InboundCapturePort, m.OutboundCapturePort = 16006, 16001
		}),
	}
}
