package podcontract_test

import (
	"net/netip"
	"strings"
	"testing"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/netcfg"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  podcontract.NetSetupOptions
		want string // "" = valid
	}{
		{"defaults", podcontract.DefaultNetSetupOptions(), ""},
		{"defaults in mesh", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), nil), ""},
		{"golden with everything", netcfg.Scenarios()["mesh-ports-exclusions"], ""},
		{"reserved port as VM port", netcfg.WithMesh(podcontract.NetSetupOptions{Ports: []podcontract.Port{{Protocol: "TCP", Port: 15021}}}, nil), "reserved by the mesh proxy"},
		{"reserved port fine outside mesh", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Ports = []podcontract.Port{{Protocol: "TCP", Port: 15021}} }), ""},
		{"bad protocol", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Ports = []podcontract.Port{{Protocol: "SCTP", Port: 1}} }), "must be TCP or UDP"},
		{"port zero", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Ports = []podcontract.Port{{Protocol: "TCP", Port: 0}} }), "not a valid port"},
		{"duplicate port", netcfg.Edit(func(c *podcontract.NetSetupOptions) {
			c.Ports = []podcontract.Port{{Protocol: "TCP", Port: 80}, {Protocol: "TCP", Port: 80}}
		}), "declared twice"},
		{"v6 as vm cidr", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.VMCIDR = netip.MustParsePrefix("fd00::/64") }), "must be an IPv4 prefix"},
		{"tiny vm cidr", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.VMCIDR = netip.MustParsePrefix("10.0.2.0/31") }), "too small"},
		{"host bits", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.VMCIDR = netip.MustParsePrefix("10.0.2.1/24") }), "did you mean 10.0.2.0/24"},
		{"v4 as v6 cidr", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.VMIPv6CIDR = netip.MustParsePrefix("10.0.0.0/8") }), "must be an IPv6 prefix"},
		{"long bridge name", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Bridge = "k6t-eth0-very-long" }), "longer than 15"},
		{"same names", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Tap = c.Bridge }), "three different interfaces"},
		{"iptables negation as a name", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Bridge = "!" }), "may only contain"},
		{"iptables wildcard in a name", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Bridge = "k6t+" }), "may only contain"},
		{"quote in a name", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.PodInterface = `e"th0` }), "may only contain"},
		{"carriage return in a name", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Tap = "tap0\r" }), "may only contain"},
		{"dots and dashes", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.Bridge = "br-vm_0.1" }), ""},
		{"unproxied proxy port", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), func(m *podcontract.MeshCapture) { m.UnproxiedPorts = []uint16{15006} }), "is a proxy port"},
		{"unproxied not declared", netcfg.WithMesh(netcfg.WithPorts(podcontract.DefaultNetSetupOptions()), func(m *podcontract.MeshCapture) { m.UnproxiedPorts = []uint16{2222} }), "not one of the VM's declared TCP ports"},
		{"star with cidrs", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), func(m *podcontract.MeshCapture) { m.IncludeOutboundCIDRs = []string{"*", "10.0.0.0/8"} }), "must be the only entry"},
		{"bad include", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), func(m *podcontract.MeshCapture) { m.IncludeOutboundCIDRs = []string{"10.0.0.0"} }), "includeOutboundCIDRs"},
		{"tun device", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.TunDevice = "/var/run/virtmesh/tun/tun" }), ""},
		{"relative tun device", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.TunDevice = "tun/tun" }), "clean absolute file path"},
		{"unclean tun device", netcfg.Edit(func(c *podcontract.NetSetupOptions) { c.TunDevice = "/run/../tun" }), "clean absolute file path"},
		{"proxy uid beyond 32 bits", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), func(m *podcontract.MeshCapture) { m.ProxyGID = 1 << 32 }), "must be valid ids"},
		{"same capture ports", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), func(m *podcontract.MeshCapture) { m.OutboundCapturePort = 15006 }), "must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.PodInterface == "" && tt.want != "" && !strings.Contains(tt.name, "names") {
				// Partial configs above only set the field under test.
				base := podcontract.DefaultNetSetupOptions()
				base.Ports, base.Mesh = tt.cfg.Ports, tt.cfg.Mesh
				tt.cfg = base
			}
			err := tt.cfg.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate() = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
