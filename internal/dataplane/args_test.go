package dataplane

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestArgsRoundTrip(t *testing.T) {
	configs := goldenScenarios()
	configs["include-star"] = withMesh(DefaultConfig(), func(m *Mesh) { m.IncludeOutboundCIDRs = []string{"*"} })
	tun := withMesh(withPorts(DefaultConfig()), func(*Mesh) {})
	tun.TunDevice = "/var/run/virtmesh/tun/tun"
	configs["tun-device"] = tun
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			got, err := ParseArgs(cfg.Args())
			if err != nil {
				t.Fatalf("ParseArgs(%q): %v", cfg.Args(), err)
			}
			// Empty and nil lists mean the same thing, except for
			// IncludeOutboundCIDRs, which EquateEmpty would hide: compare it
			// separately.
			if diff := cmp.Diff(cfg, got, cmpopts.EquateEmpty(), cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			if cfg.Mesh != nil && (cfg.Mesh.IncludeOutboundCIDRs == nil) != (got.Mesh.IncludeOutboundCIDRs == nil) {
				t.Errorf("IncludeOutboundCIDRs nil-ness lost: want %#v, got %#v", cfg.Mesh.IncludeOutboundCIDRs, got.Mesh.IncludeOutboundCIDRs)
			}
		})
	}
}

func TestArgsExact(t *testing.T) {
	cfg := withMesh(withPorts(DefaultConfig()), func(m *Mesh) {
		m.UnproxiedPorts = []uint16{22}
		m.IncludeOutboundCIDRs = []string{}
		m.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
	})
	want := "--pod-interface=eth0 --bridge=k6t-eth0 --tap=tap0 --vm-cidr=10.0.2.0/24 --vm-ipv6-cidr=fd10:0:2::/120 " +
		"--tap-owner-uid=107 --tun-device= --port=tcp:9080 --port=udp:5353 --port=tcp:22 --mesh --proxy-uid=1337 --proxy-gid=1337 " +
		"--inbound-capture-port=15006 --outbound-capture-port=15001 --include-outbound-cidrs= " +
		"--exclude-outbound-cidr=10.96.0.0/12 --unproxied-port=22"
	if diff := cmp.Diff(want, strings.Join(cfg.Args(), " ")); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
}

func TestParseArgsDefaults(t *testing.T) {
	got, err := ParseArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultConfig(), got, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("ParseArgs(nil) (-want +got):\n%s", diff)
	}
	got, err = ParseArgs([]string{"--tun-device=/run/t/tun"})
	if err != nil || got.TunDevice != "/run/t/tun" {
		t.Errorf("ParseArgs(--tun-device=/run/t/tun) = %+v, %v", got, err)
	}
	got, err = ParseArgs([]string{"--mesh"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(DefaultMesh(), got.Mesh); diff != "" {
		t.Errorf("ParseArgs(--mesh).Mesh (-want +got):\n%s", diff)
	}
}

func TestParseArgsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--vm-cidr=10.0.2.0"}, "--vm-cidr"},
		{[]string{"--port=9080"}, "want protocol:number"},
		{[]string{"--port=tcp:70000"}, "out of range"},
		{[]string{"--proxy-uid=1337"}, "needs --mesh"},
		{[]string{"--bogus=1"}, "unknown flag"},
		{[]string{"--mesh", "--bogus=1"}, "unknown flag"},
		{[]string{"--tap"}, "want --tap=value"},
		{[]string{"--mesh=true"}, "unknown flag --mesh"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := ParseArgs(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseArgs(%q) error = %v, want it to contain %q", tt.args, err, tt.want)
			}
		})
	}
}
