package dhcp

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv6"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// maxDatagram is what the servers read per packet (server4/server6 read
// into a 4096-byte buffer; longer datagrams are truncated).
const maxDatagram = 4096

// sentPacket is one datagram handle4/handle6 wrote.
type sentPacket struct {
	b  []byte
	to net.Addr
}

// packetRecorder is the server's socket as the handlers use it: WriteTo only.
type packetRecorder struct {
	net.PacketConn
	sent []sentPacket
}

func (c *packetRecorder) WriteTo(b []byte, to net.Addr) (int, error) {
	c.sent = append(c.sent, sentPacket{bytes.Clone(b), to})
	return len(b), nil
}

// fuzzLogger formats every key and value, as the real sink would, and
// records whether anything was logged as an error.
func fuzzLogger(errorLogged *bool) logr.Logger {
	return funcr.New(func(_, args string) {
		if strings.Contains(args, `"error"=`) {
			*errorLogged = true
		}
	}, funcr.Options{Verbosity: 10})
}

func fuzzOptions(t testing.TB) Options {
	t.Helper()
	rc, err := ParseResolvConf(strings.NewReader(kubeletResolvConf))
	if err != nil {
		t.Fatal(err)
	}
	o, err := OptionsFor(podcontract.DefaultVMNetwork(), true, rc, "vm-a", 1450)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// FuzzDHCPv4 feeds raw datagrams from the guest through the server's
// DHCPv4 path (decode as server4 does, then handle4) and checks what is
// sent back: only BOOTREPLYs to DISCOVER and REQUEST, for the same
// transaction and client, never an ACK for an address other than the VM's,
// the lease, router and MTU as configured, one frame at most, and no error
// logged: a guest must not be able to flood the launcher's log.
func FuzzDHCPv4(f *testing.F) {
	o := fuzzOptions(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxDatagram {
			return // the server reads its first maxDatagram bytes: another input
		}
		req, err := dhcpv4.FromBytes(data)
		if err != nil {
			return // server4 drops it
		}
		var errorLogged bool
		conn := &packetRecorder{}
		peer := &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
		handle4(o, fuzzLogger(&errorLogged), conn, peer, req)
		if errorLogged {
			t.Fatalf("a guest packet made the server log an error: %s", req.Summary())
		}
		var want dhcpv4.MessageType
		switch {
		case req.OpCode != dhcpv4.OpcodeBootRequest:
		case req.MessageType() == dhcpv4.MessageTypeDiscover:
			want = dhcpv4.MessageTypeOffer
		case req.MessageType() == dhcpv4.MessageTypeRequest:
			want = dhcpv4.MessageTypeAck // or NAK, or nothing for another server
		}
		if len(conn.sent) > 1 {
			t.Fatalf("%d replies to one request", len(conn.sent))
		}
		if len(conn.sent) == 0 {
			if want == dhcpv4.MessageTypeOffer {
				// Only an oversized answer is withheld.
				if resp, err := reply4(o, req); err != nil || resp == nil || len(resp.ToBytes()) <= maxReply(o, ipv4Header) {
					t.Fatalf("no OFFER for a DISCOVER: %s", req.Summary())
				}
			}
			return
		}
		if want == dhcpv4.MessageTypeNone {
			t.Fatalf("replied to %s (op %s)", req.MessageType(), req.OpCode)
		}
		out := conn.sent[0]
		if out.to != peer {
			t.Errorf("reply sent to %v, want the request's peer %v", out.to, peer)
		}
		if len(out.b) > maxReply(o, ipv4Header) {
			t.Errorf("reply is %d bytes, more than fits the guest's MTU %d", len(out.b), o.MTU)
		}
		resp, err := dhcpv4.FromBytes(out.b)
		if err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
		if resp.OpCode != dhcpv4.OpcodeBootReply || resp.TransactionID != req.TransactionID || !bytes.Equal(resp.ClientHWAddr, req.ClientHWAddr) {
			t.Fatalf("reply op %s xid %s chaddr %s, want BootReply %s %s", resp.OpCode, resp.TransactionID, resp.ClientHWAddr, req.TransactionID, req.ClientHWAddr)
		}
		gw := o.Gateway.Addr().AsSlice()
		if !resp.ServerIdentifier().Equal(gw) {
			t.Errorf("server identifier %v, want %v", resp.ServerIdentifier(), o.Gateway.Addr())
		}
		switch typ := resp.MessageType(); typ {
		case dhcpv4.MessageTypeNak:
			if want != dhcpv4.MessageTypeAck || !resp.YourIPAddr.IsUnspecified() {
				t.Errorf("NAK to %s with yiaddr %v", req.MessageType(), resp.YourIPAddr)
			}
			return
		case dhcpv4.MessageTypeOffer, dhcpv4.MessageTypeAck:
			if typ != want {
				t.Fatalf("%s in reply to %s", typ, req.MessageType())
			}
		default:
			t.Fatalf("reply type %s", typ)
		}
		vm := o.VMAddress.AsSlice()
		if want == dhcpv4.MessageTypeAck {
			asked := req.RequestedIPAddress()
			if asked == nil || asked.IsUnspecified() {
				asked = req.ClientIPAddr
			}
			if !asked.Equal(vm) {
				t.Fatalf("ACK for %v: only %v may be acknowledged", asked, o.VMAddress)
			}
		}
		if !resp.YourIPAddr.Equal(vm) {
			t.Errorf("yiaddr %v, want %v", resp.YourIPAddr, o.VMAddress)
		}
		if r := resp.Router(); len(r) != 1 || !r[0].Equal(gw) {
			t.Errorf("router %v, want %v", r, o.Gateway.Addr())
		}
		if got := resp.IPAddressLeaseTime(0); got != time.Duration(InfiniteLease)*time.Second {
			t.Errorf("lease %v, want infinite", got)
		}
		if mtu := resp.Options.Get(dhcpv4.OptionInterfaceMTU); len(mtu) != 2 || int(mtu[0])<<8|int(mtu[1]) != int(o.MTU) {
			t.Errorf("MTU option %v, want %d", mtu, o.MTU)
		}
	})
}

// FuzzDHCPv6 feeds raw datagrams from the guest through the DHCPv6 path
// (decode as server6 does, then handle6): answers only to SOLICIT, REQUEST,
// RENEW, REBIND and CONFIRM, for the same transaction and client, from this
// server's DUID, with the VM's one address; one frame at most and no error
// logged.
func FuzzDHCPv6(f *testing.F) {
	o := fuzzOptions(f)
	serverID := &dhcpv6.DUIDLL{HWType: 1, LinkLayerAddr: o.ServerMAC}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxDatagram {
			return // the server reads its first maxDatagram bytes: another input
		}
		d, err := dhcpv6.FromBytes(data)
		if err != nil {
			return // server6 drops it
		}
		var errorLogged bool
		conn := &packetRecorder{}
		peer := &net.UDPAddr{IP: net.ParseIP("fe80::5054:ff:fe12:3456"), Port: dhcpv6.DefaultClientPort, Zone: "k6t-eth0"}
		handle6(o, fuzzLogger(&errorLogged), conn, peer, d)
		if errorLogged {
			t.Fatalf("a guest packet made the server log an error: %s", d.Summary())
		}
		if len(conn.sent) > 1 {
			t.Fatalf("%d replies to one message", len(conn.sent))
		}
		if len(conn.sent) == 0 {
			return
		}
		req, ok := d.(*dhcpv6.Message)
		if !ok {
			t.Fatalf("answered a %s: a guest has no relay agent", d.Type())
		}
		out := conn.sent[0]
		if out.to != peer {
			t.Errorf("reply sent to %v, want the request's peer %v", out.to, peer)
		}
		if len(out.b) > maxReply(o, ipv6Header) {
			t.Errorf("reply is %d bytes, more than fits the guest's MTU %d", len(out.b), o.MTU)
		}
		rd, err := dhcpv6.FromBytes(out.b)
		if err != nil {
			t.Fatalf("reply does not decode: %v", err)
		}
		resp, ok := rd.(*dhcpv6.Message)
		if !ok {
			t.Fatalf("reply is a %s", rd.Type())
		}
		switch req.Type() {
		case dhcpv6.MessageTypeSolicit:
			if want := dhcpv6.MessageTypeAdvertise; req.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
				if resp.Type() != dhcpv6.MessageTypeReply {
					t.Errorf("%s to a rapid-commit SOLICIT", resp.Type())
				}
			} else if resp.Type() != want {
				t.Errorf("%s to a SOLICIT, want %s", resp.Type(), want)
			}
		case dhcpv6.MessageTypeRequest, dhcpv6.MessageTypeRenew, dhcpv6.MessageTypeRebind, dhcpv6.MessageTypeConfirm:
			if resp.Type() != dhcpv6.MessageTypeReply {
				t.Errorf("%s to a %s", resp.Type(), req.Type())
			}
		default:
			t.Fatalf("answered a %s", req.Type())
		}
		if resp.TransactionID != req.TransactionID {
			t.Errorf("xid %s, want %s", resp.TransactionID, req.TransactionID)
		}
		if sid := resp.Options.ServerID(); sid == nil || !sid.Equal(serverID) {
			t.Errorf("server ID %v, want %v", sid, serverID)
		}
		if cid, want := resp.Options.ClientID(), req.Options.ClientID(); cid == nil || want == nil || !cid.Equal(want) {
			t.Errorf("client ID %v, want the request's %v", cid, want)
		}
		ia := resp.Options.OneIANA()
		if ia == nil || ia.Options.OneAddress() == nil {
			t.Fatalf("no IA_NA address in %s", resp.Summary())
		}
		if got, _ := netip.AddrFromSlice(ia.Options.OneAddress().IPv6Addr); got != o.VMAddressIPv6 {
			t.Errorf("address %v, want %v", got, o.VMAddressIPv6)
		}
	})
}
