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
		{"mesh without pod IPv6", netcfg.WithIPv6(netcfg.WithMesh(podcontract.DefaultNetSetupOptions(), nil)), IPv6, []netip.Addr{podIPv4}, "needs the pod's IPv6 address"},
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
// any DNAT towards the VM, and PREINBOUND DNATs only the unproxied TCP ports
// and the VM's UDP (declared ports, or all but the proxy's), never TCP in
// general: that would skip the proxy.
func TestMeshNeverDNATsProxyPorts(t *testing.T) {
	const proxyPorts = "-m multiport --dports 15000,15001,15004,15006,15008,15009,15020,15021,15053,15090"
	for name, cfg := range netcfg.Scenarios() {
		if cfg.Mesh == nil {
			continue
		}
		rules, err := RenderRules(cfg, IPv4, podIPv4)
		if err != nil {
			t.Fatal(err)
		}
		sawReturn, sawUDPReturn := false, false
		for _, l := range strings.Split(rules, "\n") {
			if strings.HasPrefix(l, "-A "+ChainVMLocalOutput+" -p tcp "+proxyPorts) {
				sawReturn = true
			}
			if strings.HasPrefix(l, "-A "+ChainVMLocalOutput) && strings.Contains(l, "DNAT") && !sawReturn {
				t.Errorf("%s: DNAT before the proxy-port RETURN: %s", name, l)
			}
			rule, ok := strings.CutPrefix(l, "-A "+ChainPreInbound+" ")
			if !ok {
				continue
			}
			switch {
			case rule == "-p udp "+proxyPorts+" -j RETURN":
				sawUDPReturn = true
			case strings.HasPrefix(rule, "-p tcp --dport "), strings.HasPrefix(rule, "-p udp --dport "):
			case rule == "-p udp -j DNAT --to-destination "+podcontract.VMAddress(cfg.VMCIDR).String() && sawUDPReturn && len(cfg.Ports) == 0:
			default:
				t.Errorf("%s: inbound DNAT in the mesh that is neither one port nor the VM's UDP after the proxy ports: %s", name, l)
			}
		}
		if !sawReturn {
			t.Errorf("%s: no proxy-port RETURN in %s", name, ChainVMLocalOutput)
		}
	}
}

// TestMeshForwardsDeclaredUDPOnly: with declared ports, the mesh DNATs
// exactly the declared UDP ports and the unproxied TCP ports inbound.
func TestMeshForwardsDeclaredUDPOnly(t *testing.T) {
	cfg := netcfg.WithMesh(netcfg.WithPorts(podcontract.DefaultNetSetupOptions()), func(m *podcontract.MeshCapture) { m.UnproxiedPorts = []uint16{22} })
	rules, err := RenderRules(cfg, IPv4, podIPv4)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(rules, "\n") {
		if strings.HasPrefix(l, "-A "+ChainPreInbound) {
			got = append(got, l)
		}
	}
	want := []string{
		"-A KUBEVIRT_PREINBOUND -p tcp --dport 22 -j DNAT --to-destination 10.0.2.2",
		"-A KUBEVIRT_PREINBOUND -p udp --dport 5353 -j DNAT --to-destination 10.0.2.2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", ChainPreInbound, diff)
	}
}

// TestMeshNeverCapturesTheVMNetwork: pod-local connections straight to the
// VM's network (the launcher's guest probes) return in ISTIO_OUTPUT before
// any redirect to the proxy.
func TestMeshNeverCapturesTheVMNetwork(t *testing.T) {
	for name, cfg := range netcfg.Scenarios() {
		if cfg.Mesh == nil {
			continue
		}
		for _, fam := range []Family{IPv4, IPv6} {
			if fam == IPv6 && !cfg.IPv6 {
				continue // no VM network (TestNoVMRulesWithoutVMIPv6)
			}
			rules, err := RenderRules(cfg, fam, podIPv4, podIPv6)
			if err != nil {
				t.Fatal(err)
			}
			ret := "-A " + ChainOutput + " -d " + VMCIDR(cfg.VMNetwork, fam).String() + " -j RETURN"
			i := strings.Index(rules, ret+"\n")
			if i < 0 {
				t.Errorf("%s %s: no %q", name, fam, ret)
				continue
			}
			for _, l := range strings.Split(rules[:i], "\n") {
				if strings.HasPrefix(l, "-A "+ChainOutput) && strings.HasSuffix(l, "-j "+ChainRedirect) {
					t.Errorf("%s %s: %q before %q", name, fam, l, ret)
				}
			}
		}
	}
}

// TestNoVMRulesWithoutVMIPv6: without --vm-ipv6 the IPv6 table forwards
// nothing to or from the VM and captures nothing inbound (so IPv6
// connections to the pod are refused), keeping only the mesh's outbound
// capture of pod-local processes; and it needs no pod IPv6 address.
func TestNoVMRulesWithoutVMIPv6(t *testing.T) {
	for name, cfg := range netcfg.Scenarios() {
		if cfg.IPv6 {
			continue
		}
		rules, err := RenderRules(cfg, IPv6)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, bad := range []string{"NAT", "MASQUERADE", ChainPreInbound, ChainInbound, ChainInRedirect, ChainVMOutboundRedir, "PREROUTING -", VMCIDR(cfg.VMNetwork, IPv6).Masked().Addr().String()} {
			if strings.Contains(rules, bad) {
				t.Errorf("%s: IPv6 table without --vm-ipv6 contains %q:\n%s", name, bad, rules)
			}
		}
		if got := strings.Contains(rules, "-A OUTPUT -j "+ChainOutput); got != (cfg.Mesh != nil) {
			t.Errorf("%s: outbound capture rendered = %v, want %v (the mesh's):\n%s", name, got, cfg.Mesh != nil, rules)
		}
	}
}

// TestIPv6LoopbackNeverDNATed: [::1] → VM cannot work (IPv6 has no
// route_localnet: the connection would hang), so it is never rendered and
// [::1]:port is refused like any closed port; 127.0.0.1 still is DNATed.
func TestIPv6LoopbackNeverDNATed(t *testing.T) {
	for name, cfg := range netcfg.Scenarios() {
		for _, fam := range []Family{IPv4, IPv6} {
			rules, err := RenderRules(cfg, fam, podIPv4, podIPv6)
			if err != nil {
				t.Fatal(err)
			}
			dnat := false
			for _, l := range strings.Split(rules, "\n") {
				if strings.Contains(l, " -d "+host(fam.Loopback())+" ") && strings.HasSuffix(l, "-j DNAT --to-destination "+podcontract.VMAddress(VMCIDR(cfg.VMNetwork, fam)).String()) {
					dnat = true
				}
			}
			if dnat != (fam == IPv4) {
				t.Errorf("%s %s: loopback DNAT rendered = %v, want %v:\n%s", name, fam, dnat, fam == IPv4, rules)
			}
			if strings.Contains(rules, "-s "+host(fam.Loopback())+" -j SNAT") != (fam == IPv4) {
				t.Errorf("%s %s: loopback SNAT must exist exactly with the loopback DNAT:\n%s", name, fam, rules)
			}
		}
	}
}
