package dhcp

import (
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"virtmesh.io/virtmesh/internal/podcontract"
)

const kubeletResolvConf = `# written by kubelet
search default.svc.cluster.local svc.cluster.local cluster.local
nameserver 10.96.0.10
nameserver fd00:10:96::a
nameserver fe80::1%eth0
options ndots:5
`

func TestParseResolvConf(t *testing.T) {
	got, err := ParseResolvConf(strings.NewReader(kubeletResolvConf))
	if err != nil {
		t.Fatal(err)
	}
	want := ResolvConf{
		Nameservers: []netip.Addr{netip.MustParseAddr("10.96.0.10"), netip.MustParseAddr("fd00:10:96::a")},
		Search:      []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
	}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("ParseResolvConf (-want +got):\n%s", diff)
	}
}

func testOptions(t *testing.T) Options {
	t.Helper()
	rc, _ := ParseResolvConf(strings.NewReader(kubeletResolvConf))
	o, err := OptionsFor(podcontract.DefaultVMNetwork(), true, rc, "vm-a", 1450)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// summary4 is the part of a DHCPv4 reply the guest acts on.
type summary4 struct {
	Type              string
	YourIP, Router    string
	Netmask, ServerID string
	DNS               []string
	Search            []string
	Hostname          string
	MTU               []byte
	Lease             uint32
}

func summarize4(m *dhcpv4.DHCPv4) *summary4 {
	if m == nil {
		return nil
	}
	s := &summary4{Type: m.MessageType().String(), YourIP: m.YourIPAddr.String(), Hostname: m.HostName(), MTU: m.Options.Get(dhcpv4.OptionInterfaceMTU)}
	if r := m.Router(); len(r) > 0 {
		s.Router = r[0].String()
	}
	if nm := m.SubnetMask(); nm != nil {
		s.Netmask = net.IP(nm).String()
	}
	if id := m.ServerIdentifier(); id != nil {
		s.ServerID = id.String()
	}
	for _, d := range m.DNS() {
		s.DNS = append(s.DNS, d.String())
	}
	if l := m.DomainSearch(); l != nil {
		s.Search = l.Labels
	}
	s.Lease = uint32(m.IPAddressLeaseTime(0).Seconds())
	return s
}

func TestReply4(t *testing.T) {
	o := testOptions(t)
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	full := &summary4{Type: "OFFER", YourIP: "10.0.2.2", Router: "10.0.2.1", Netmask: "255.255.255.0", ServerID: "10.0.2.1",
		DNS: []string{"10.96.0.10"}, Search: []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"},
		Hostname: "vm-a", MTU: []byte{0x05, 0xaa}, Lease: InfiniteLease}
	ack := *full
	ack.Type = "ACK"
	tests := []struct {
		name string
		mods []dhcpv4.Modifier
		want *summary4
	}{
		{"discover", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeDiscover)}, full},
		{"request", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.0.2.2"))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.2.1")))}, &ack},
		{"renew", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest), dhcpv4.WithClientIP(net.ParseIP("10.0.2.2"))}, &ack},
		{"request for another address", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("192.168.1.7")))},
			&summary4{Type: "NAK", YourIP: "0.0.0.0", ServerID: "10.0.2.1"}},
		{"request to another server", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRequest),
			dhcpv4.WithOption(dhcpv4.OptRequestedIPAddress(net.ParseIP("10.0.2.2"))),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP("10.0.2.99")))}, nil},
		{"release", []dhcpv4.Modifier{dhcpv4.WithMessageType(dhcpv4.MessageTypeRelease)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := dhcpv4.New(append([]dhcpv4.Modifier{dhcpv4.WithHwAddr(mac)}, tt.mods...)...)
			if err != nil {
				t.Fatal(err)
			}
			// Through the wire format, as the server sees it.
			req, err = dhcpv4.FromBytes(req.ToBytes())
			if err != nil {
				t.Fatal(err)
			}
			resp, err := reply4(o, req)
			if err != nil {
				t.Fatal(err)
			}
			if resp != nil {
				if resp, err = dhcpv4.FromBytes(resp.ToBytes()); err != nil {
					t.Fatal(err)
				}
				if resp.TransactionID != req.TransactionID || resp.ClientHWAddr.String() != mac.String() {
					t.Errorf("reply xid/chaddr = %v/%v, want %v/%v", resp.TransactionID, resp.ClientHWAddr, req.TransactionID, mac)
				}
			}
			if diff := cmp.Diff(tt.want, summarize4(resp)); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReply6(t *testing.T) {
	o := testOptions(t)
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	sol, err := dhcpv6.NewSolicit(mac)
	if err != nil {
		t.Fatal(err)
	}
	adv, err := reply6(o, sol)
	if err != nil {
		t.Fatal(err)
	}
	if adv.Type() != dhcpv6.MessageTypeAdvertise {
		t.Fatalf("reply to Solicit is %s, want ADVERTISE", adv.Type())
	}
	req, err := dhcpv6.NewRequestFromAdvertise(adv)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := reply6(o, req)
	if err != nil {
		t.Fatal(err)
	}
	if reply.Type() != dhcpv6.MessageTypeReply {
		t.Fatalf("reply to Request is %s, want REPLY", reply.Type())
	}
	ia := reply.Options.OneIANA()
	if ia == nil || ia.Options.OneAddress() == nil {
		t.Fatalf("reply has no IA_NA address: %s", reply.Summary())
	}
	got := struct {
		Addr   string
		DNS    []string
		Search []string
	}{Addr: ia.Options.OneAddress().IPv6Addr.String()}
	for _, d := range reply.Options.DNS() {
		got.DNS = append(got.DNS, d.String())
	}
	if l := reply.Options.DomainSearchList(); l != nil {
		got.Search = l.Labels
	}
	want := got
	want.Addr, want.DNS = "fd10:0:2::2", []string{"fd00:10:96::a"}
	want.Search = []string{"default.svc.cluster.local", "svc.cluster.local", "cluster.local"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DHCPv6 reply (-want +got):\n%s", diff)
	}

	// A Request carrying another server's DUID is not ours to answer.
	other, _ := net.ParseMAC("02:00:00:00:00:99")
	req.UpdateOption(dhcpv6.OptServerID(&dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: other}))
	if r, err := reply6(o, req); err != nil || r != nil {
		t.Errorf("reply to another server's Request = %v, %v; want none", r, err)
	}
}

func TestOptionsFor(t *testing.T) {
	cfg := podcontract.DefaultVMNetwork()
	cfg.VMCIDR = netip.MustParsePrefix("10.11.0.0/16")
	cfg.VMIPv6CIDR = netip.MustParsePrefix("fd20:1::/120")
	if o, err := OptionsFor(cfg, true, ResolvConf{}, "h", 9000); err != nil || o.VMAddressIPv6.String() != "fd20:1::2" || o.GatewayIPv6.String() != "fd20:1::1/120" {
		t.Errorf("OptionsFor custom IPv6 CIDR: gateway %s vm %s, %v", o.GatewayIPv6, o.VMAddressIPv6, err)
	}
	o, err := OptionsFor(cfg, false, ResolvConf{}, "h", 9000)
	if err != nil {
		t.Fatal(err)
	}
	if o.Gateway.String() != "10.11.0.1/16" || o.VMAddress.String() != "10.11.0.2" || o.VMAddressIPv6.IsValid() {
		t.Errorf("OptionsFor custom CIDR: gateway %s vm %s vm6 %s", o.Gateway, o.VMAddress, o.VMAddressIPv6)
	}
	if _, err := OptionsFor(cfg, false, ResolvConf{}, "h", 20); err == nil {
		t.Error("OptionsFor accepted MTU 20")
	}
}
