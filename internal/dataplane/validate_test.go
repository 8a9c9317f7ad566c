package dataplane

import (
	"net/netip"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"defaults", DefaultConfig(), ""},
		{"defaults in mesh", withMesh(DefaultConfig(), nil), ""},
		{"golden with everything", goldenScenarios()["mesh-ports-exclusions"], ""},
		{"reserved port as VM port", withMesh(Config{Ports: []Port{{"TCP", 15021}}}, nil), "reserved by the mesh proxy"},
		{"reserved port fine outside mesh", func() Config { c := DefaultConfig(); c.Ports = []Port{{"TCP", 15021}}; return c }(), ""},
		{"bad protocol", func() Config { c := DefaultConfig(); c.Ports = []Port{{"SCTP", 1}}; return c }(), "must be TCP or UDP"},
		{"port zero", func() Config { c := DefaultConfig(); c.Ports = []Port{{"TCP", 0}}; return c }(), "not a valid port"},
		{"duplicate port", func() Config { c := DefaultConfig(); c.Ports = []Port{{"TCP", 80}, {"TCP", 80}}; return c }(), "declared twice"},
		{"v6 as vm cidr", func() Config { c := DefaultConfig(); c.VMCIDR = netip.MustParsePrefix("fd00::/64"); return c }(), "must be an IPv4 prefix"},
		{"tiny vm cidr", func() Config { c := DefaultConfig(); c.VMCIDR = netip.MustParsePrefix("10.0.2.0/31"); return c }(), "too small"},
		{"host bits", func() Config { c := DefaultConfig(); c.VMCIDR = netip.MustParsePrefix("10.0.2.1/24"); return c }(), "did you mean 10.0.2.0/24"},
		{"v4 as v6 cidr", func() Config { c := DefaultConfig(); c.VMIPv6CIDR = netip.MustParsePrefix("10.0.0.0/8"); return c }(), "must be an IPv6 prefix"},
		{"long bridge name", func() Config { c := DefaultConfig(); c.Bridge = "k6t-eth0-very-long"; return c }(), "longer than 15"},
		{"same names", func() Config { c := DefaultConfig(); c.Tap = c.Bridge; return c }(), "three different interfaces"},
		{"unproxied proxy port", withMesh(DefaultConfig(), func(m *Mesh) { m.UnproxiedPorts = []uint16{15006} }), "is a proxy port"},
		{"unproxied not declared", withMesh(withPorts(DefaultConfig()), func(m *Mesh) { m.UnproxiedPorts = []uint16{2222} }), "not one of the VM's declared TCP ports"},
		{"star with cidrs", withMesh(DefaultConfig(), func(m *Mesh) { m.IncludeOutboundCIDRs = []string{"*", "10.0.0.0/8"} }), "must be the only entry"},
		{"bad include", withMesh(DefaultConfig(), func(m *Mesh) { m.IncludeOutboundCIDRs = []string{"10.0.0.0"} }), "includeOutboundCIDRs"},
		{"tun device", func() Config { c := DefaultConfig(); c.TunDevice = "/var/run/virtmesh/tun/tun"; return c }(), ""},
		{"relative tun device", func() Config { c := DefaultConfig(); c.TunDevice = "tun/tun"; return c }(), "clean absolute file path"},
		{"unclean tun device", func() Config { c := DefaultConfig(); c.TunDevice = "/run/../tun"; return c }(), "clean absolute file path"},
		{"same capture ports", withMesh(DefaultConfig(), func(m *Mesh) { m.OutboundCapturePort = 15006 }), "must differ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.PodInterface == "" && tt.want != "" && !strings.Contains(tt.name, "names") {
				// Partial configs above only set the field under test.
				base := DefaultConfig()
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
