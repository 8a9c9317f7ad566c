package dataplane

import (
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/golden"
	"virtmesh.io/virtmesh/internal/testing/netcfg"
)

var (
	podIPv4 = netip.MustParseAddr("10.244.1.5")
	podIPv6 = netip.MustParseAddr("fd00:10:244:1::5")
)

func TestRenderRulesGolden(t *testing.T) {
	for name, cfg := range netcfg.Scenarios() {
		for _, fam := range []Family{IPv4, IPv6} {
			file := filepath.Join("testdata", name+"-"+strings.ToLower(fam.String())+".golden")
			t.Run(filepath.Base(file), func(t *testing.T) {
				rules, err := RenderRules(cfg, fam, podIPv4, podIPv6)
				if err != nil {
					t.Fatalf("RenderRules: %v", err)
				}
				golden.Assert(t, file, []byte("# net-setup "+strings.Join(cfg.Args(), " ")+"\n"+rules))
			})
		}
	}
}

func TestRenderRulesErrors(t *testing.T) {
	tests := []struct {
		name   string
		cfg    podcontract.NetSetupOptions
		family Family
		ips    []netip.Addr
		want   string
	}{
		{"mesh without pod IP", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), nil), IPv4, []netip.Addr{podIPv6}, "needs the pod's IPv4 address"},
		{"mesh without pod IPv6", netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), nil), IPv6, []netip.Addr{podIPv4}, "needs the pod's IPv6 address"},
		{"invalid config", podcontract.NetSetupOptions{}, IPv4, nil, "invalid dataplane config"},
		{"unknown family", podcontract.DefaultNetSetupOptions(), Family(5), nil, "unknown address family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := RenderRules(tt.cfg, tt.family, tt.ips...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("RenderRules error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestRenderRulesNoMeshNeedsNoPodIP: outside the mesh the rules do not
// depend on the pod IP, so net-setup works before the CNI reports it.
func TestRenderRulesNoMeshNeedsNoPodIP(t *testing.T) {
	with, err := RenderRules(podcontract.DefaultNetSetupOptions(), IPv4, podIPv4)
	if err != nil {
		t.Fatal(err)
	}
	without, err := RenderRules(podcontract.DefaultNetSetupOptions(), IPv4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(with, without); diff != "" {
		t.Errorf("rules depend on the pod IP outside the mesh (-with +without):\n%s", diff)
	}
}

// TestMeshNeverDNATsProxyPorts: in the mesh, the proxy ports return before
// any DNAT towards the VM and there is no catch-all DNAT in PREINBOUND.
func TestMeshNeverDNATsProxyPorts(t *testing.T) {
	for name, cfg := range netcfg.Scenarios() {
		if cfg.Mesh == nil {
			continue
		}
		rules, err := RenderRules(cfg, IPv4, podIPv4)
		if err != nil {
			t.Fatal(err)
		}
		sawReturn := false
		for _, l := range strings.Split(rules, "\n") {
			if strings.HasPrefix(l, "-A "+ChainVMLocalOutput+" -p tcp -m multiport --dports 15000,15001,15004,15006,15008,15009,15020,15021,15053,15090") {
				sawReturn = true
			}
			if strings.HasPrefix(l, "-A "+ChainVMLocalOutput) && strings.Contains(l, "DNAT") && !sawReturn {
				t.Errorf("%s: DNAT before the proxy-port RETURN: %s", name, l)
			}
			if strings.HasPrefix(l, "-A "+ChainPreInbound) && !strings.Contains(l, "--dport") {
				t.Errorf("%s: catch-all inbound DNAT in the mesh: %s", name, l)
			}
		}
		if !sawReturn {
			t.Errorf("%s: no proxy-port RETURN in %s", name, ChainVMLocalOutput)
		}
	}
}
