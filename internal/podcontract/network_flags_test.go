package podcontract_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/netcfg"
)

func TestNetSetupArgsRoundTrip(t *testing.T) {
	configs := netcfg.Scenarios()
	configs["include-star"] = netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), func(m *podcontract.MeshCapture) { m.IncludeOutboundCIDRs = []string{"*"} })
	tun := netcfg.WithMesh(netcfg.WithPorts(podcontract.DefaultNetSetupOptions()), nil)
	tun.TunDevice = podcontract.TunDevicePath
	configs["tun-device"] = tun
	configs["vm-ipv6"] = netcfg.WithIPv6(netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), nil))
	for name, cfg := range configs {
		t.Run(name, func(t *testing.T) {
			got, err := podcontract.ParseNetSetupArgs(cfg.Args())
			if err != nil {
				t.Fatalf("ParseNetSetupArgs(%q): %v", cfg.Args(), err)
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

func TestNetSetupArgsExact(t *testing.T) {
	cfg := netcfg.WithMesh(netcfg.WithPorts(podcontract.DefaultNetSetupOptions()), func(m *podcontract.MeshCapture) {
		m.UnproxiedPorts = []uint16{22}
		m.IncludeOutboundCIDRs = []string{}
		m.ExcludeOutboundCIDRs = []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")}
	})
	want := "--pod-interface=eth0 --bridge=k6t-eth0 --tap=tap0 --vm-cidr=10.0.2.0/24 --vm-ipv6-cidr=fd10:0:2::/120 --vm-ipv6=false " +
		"--tap-owner-uid=107 --tun-device= --port=tcp:9080 --port=udp:5353 --port=tcp:22 --mesh=true --proxy-uid=1337 --proxy-gid=1337 " +
		"--inbound-capture-port=15006 --outbound-capture-port=15001 --include-outbound-cidrs= " +
		"--exclude-outbound-cidr=10.96.0.0/12 --unproxied-port=22"
	if diff := cmp.Diff(want, strings.Join(cfg.Args(), " ")); diff != "" {
		t.Errorf("Args (-want +got):\n%s", diff)
	}
}

func TestParseNetSetupArgsDefaults(t *testing.T) {
	got, err := podcontract.ParseNetSetupArgs(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(podcontract.DefaultNetSetupOptions(), got, cmpopts.EquateComparable(netip.Prefix{})); diff != "" {
		t.Errorf("ParseNetSetupArgs(nil) (-want +got):\n%s", diff)
	}
	got, err = podcontract.ParseNetSetupArgs([]string{"--tun-device=/run/t/tun"})
	if err != nil || got.TunDevice != "/run/t/tun" {
		t.Errorf("ParseNetSetupArgs(--tun-device=/run/t/tun) = %+v, %v", got, err)
	}
	// IPv6 for the VM is off unless asked for: it needs a sysctl the
	// kubelet must allow.
	if got.IPv6 {
		t.Errorf("ParseNetSetupArgs: VM IPv6 on by default")
	}
	for _, on := range []string{"--vm-ipv6", "--vm-ipv6=true"} {
		if got, err = podcontract.ParseNetSetupArgs([]string{on}); err != nil || !got.IPv6 {
			t.Errorf("ParseNetSetupArgs(%s) = IPv6 %v, %v; want true", on, got.IPv6, err)
		}
	}
	for _, on := range []string{"--mesh", "--mesh=true"} {
		got, err = podcontract.ParseNetSetupArgs([]string{on})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(podcontract.DefaultMesh(), got.Mesh); diff != "" {
			t.Errorf("ParseNetSetupArgs(%s).Mesh (-want +got):\n%s", on, diff)
		}
	}
}

func TestParseNetSetupArgsErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--vm-cidr=10.0.2.0"}, "-vm-cidr"},
		{[]string{"--port=9080"}, "want protocol:number"},
		{[]string{"--port=tcp:70000"}, "not a number in 0..65535"},
		{[]string{"--proxy-uid=1337"}, "--proxy-uid needs --mesh"},
		{[]string{"--mesh=false", "--unproxied-port=22"}, "--unproxied-port needs --mesh"},
		{[]string{"--bogus=1"}, "not defined"},
		{[]string{"--mesh", "--bogus=1"}, "not defined"},
		{[]string{"--tap"}, "needs an argument"},
		{[]string{"positional"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := podcontract.ParseNetSetupArgs(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseNetSetupArgs(%q) error = %v, want it to contain %q", tt.args, err, tt.want)
			}
		})
	}
}
