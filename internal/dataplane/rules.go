package dataplane

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// Family is an IP address family; each has its own nat table.
type Family int

// The families, numbered like the IP versions.
const (
	IPv4 Family = 4
	IPv6 Family = 6
)

func (f Family) String() string {
	if f == IPv6 {
		return "IPv6"
	}
	return "IPv4"
}

// Loopback is the address local clients use to reach the VM's ports.
func (f Family) Loopback() netip.Addr {
	if f == IPv6 {
		return netip.IPv6Loopback()
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 1})
}

// InboundPassthrough is the source address the proxy binds when it hands
// an inbound connection to the application (Envoy's 127.0.0.6 and ::6).
func (f Family) InboundPassthrough() netip.Addr {
	if f == IPv6 {
		return netip.MustParseAddr("::6")
	}
	return netip.AddrFrom4([4]byte{127, 0, 0, 6})
}

func (f Family) has(a netip.Addr) bool {
	a = a.Unmap()
	return (f == IPv4 && a.Is4()) || (f == IPv6 && a.Is6())
}

// Chain names. The masquerade chains keep KubeVirt's names so that people
// who know KubeVirt recognise them; the mesh chains keep Istio's.
const (
	ChainPreInbound      = "KUBEVIRT_PREINBOUND"
	ChainPostInbound     = "KUBEVIRT_POSTINBOUND"
	ChainVMLocalOutput   = "KUBEVIRT_OUTPUT"
	ChainInbound         = "ISTIO_INBOUND"
	ChainInRedirect      = "ISTIO_IN_REDIRECT"
	ChainOutput          = "ISTIO_OUTPUT"
	ChainRedirect        = "ISTIO_REDIRECT"
	ChainVMOutboundRedir = "VIRTMESH_VM_OUTBOUND"
)

// RenderRules renders the complete nat table of one family as
// iptables-restore input. The table is replaced as a whole, in one
// transaction, so applying it twice leaves exactly one copy of each rule.
//
// podIPs are the pod's addresses (from eth0); those of other families are
// ignored. In the mesh an address of family is required when the VM has
// that family: the proxy hands inbound connections to podIP:port, which is
// DNATed to the VM.
//
// The VM always has IPv4; it has IPv6 only with c.IPv6 (--vm-ipv6). Without
// it the IPv6 table holds no VM rules at all — nothing is DNATed, so every
// IPv6 connection to the pod that no process in the pod listens for is
// refused by the kernel — and, in the mesh, only the outbound capture of
// pod-local processes (ISTIO_OUTPUT): no inbound capture, which would
// accept connections the proxy could hand to nobody.
//
// Local clients reach the VM at 127.0.0.1 (route_localnet lets the DNATed
// connection cross the bridge) but never at [::1]: IPv6 has no
// route_localnet, so the guest's answer, un-NATed back to ::1, would be
// dropped on the bridge and the client hang. [::1]:port stays local and is
// refused like any closed port.
//
// Order inside the base chains, which is the point of rendering both rule
// sets into one table:
//
//	PREROUTING   1. -i eth0 → KUBEVIRT_PREINBOUND: outside the mesh the DNAT
//	                to the VM; in the mesh only the explicitly unproxied
//	                TCP ports, which must win over the inbound capture, and
//	                the VM's UDP, which the proxy does not carry.
//	             2. -i k6t-eth0 -p tcp → VIRTMESH_VM_OUTBOUND (mesh): the
//	                VM's TCP is the pod's outbound traffic (→ 15001).
//	             3. -i k6t-eth0 → RETURN (mesh): DHCP, DNS, ICMP and the rest
//	                of the VM's traffic is never captured.
//	             4. -p tcp → ISTIO_INBOUND (mesh): inbound capture (→ 15006).
//	OUTPUT       1. ISTIO_OUTPUT (mesh) first, so the proxy's own
//	                connections and the 127.0.0.6 passthrough are decided
//	                before anything is DNATed; connections straight to the
//	                VM's network are never captured.
//	             2. KUBEVIRT_OUTPUT: proxy ports RETURN, then
//	                {127.0.0.1, podIP} → VM.
//	POSTROUTING  MASQUERADE from the VM; -o k6t-eth0 → KUBEVIRT_POSTINBOUND
//	             (SNAT of 127.0.0.1 and 127.0.0.6 to the gateway).
func RenderRules(c podcontract.NetSetupOptions, family Family, podIPs ...netip.Addr) (string, error) {
	if family != IPv4 && family != IPv6 {
		return "", fmt.Errorf("unknown address family %d", family)
	}
	if err := c.Validate(); err != nil {
		return "", fmt.Errorf("invalid dataplane config: %w", err)
	}
	var ips []netip.Addr
	for _, ip := range podIPs {
		if family.has(ip) && !slices.Contains(ips, ip.Unmap()) {
			ips = append(ips, ip.Unmap())
		}
	}
	hasVM := family == IPv4 || c.IPv6
	if c.Mesh != nil && hasVM && len(ips) == 0 {
		return "", fmt.Errorf("the mesh needs the pod's %s address to hand inbound connections to the VM, got %v", family, podIPs)
	}
	r := renderer{c: c, f: family, podIPs: ips, cidr: VMCIDR(c.VMNetwork, family), hasVM: hasVM}
	r.vm = podcontract.VMAddress(r.cidr).String()
	r.gw = podcontract.Gateway(r.cidr).String()
	r.render()
	return r.t.String(), nil
}

type renderer struct {
	c      podcontract.NetSetupOptions
	f      Family
	podIPs []netip.Addr
	cidr   netip.Prefix
	vm, gw string
	// hasVM: the VM has this address family (IPv4 always, IPv6 with --vm-ipv6).
	hasVM bool
	t     table
}

func (r *renderer) render() {
	if !r.hasVM {
		r.renderWithoutVM()
		return
	}
	c, m := r.c, r.c.Mesh
	r.t.chain(ChainPreInbound, ChainPostInbound, ChainVMLocalOutput)
	if m != nil {
		r.t.chain(ChainInbound, ChainInRedirect, ChainOutput, ChainRedirect, ChainVMOutboundRedir)
	}

	r.t.comment("PREROUTING: explicit VM forwards first, then the VM's own traffic, then the inbound capture.")
	r.t.add("PREROUTING", "-i", c.PodInterface, "-j", ChainPreInbound)
	if m != nil {
		r.t.add("PREROUTING", "-i", c.Bridge, "-p", "tcp", "-j", ChainVMOutboundRedir)
		r.t.add("PREROUTING", "-i", c.Bridge, "-j", "RETURN")
		r.t.add("PREROUTING", "-p", "tcp", "-j", ChainInbound)
	}
	r.t.comment("OUTPUT: the proxy's decisions first, then local clients of the VM.")
	if m != nil {
		r.t.add("OUTPUT", "-j", ChainOutput)
	}
	r.t.add("OUTPUT", "-j", ChainVMLocalOutput)
	r.t.comment("POSTROUTING: the VM leaves as the pod; local clients reach it from the gateway.")
	r.t.add("POSTROUTING", "-s", host(podcontract.VMAddress(r.cidr)), "-j", "MASQUERADE")
	r.t.add("POSTROUTING", "-o", c.Bridge, "-j", ChainPostInbound)

	r.preInbound()
	r.localOutput()
	r.postInbound()
	if m != nil {
		r.meshInbound()
		r.meshOutput()
		r.vmOutbound()
	}
}

// renderWithoutVM is the table of a family the VM does not have (IPv6
// without --vm-ipv6): no NAT to or from the VM and, in the mesh, only the
// outbound capture of pod-local processes, without the inbound capture, the
// passthrough and the proxy's hairpin to its own pod IP.
func (r *renderer) renderWithoutVM() {
	r.t.comment("The VM has no " + r.f.String() + " (--vm-ipv6=false): nothing is forwarded to it; connections to the pod reach only the pod's own listeners.")
	if r.c.Mesh == nil {
		return
	}
	r.t.chain(ChainOutput, ChainRedirect)
	r.t.comment("OUTPUT: pod-local processes' outbound " + r.f.String() + " passes the proxy.")
	r.t.add("OUTPUT", "-j", ChainOutput)
	r.t.add(ChainRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", itoa(r.c.Mesh.OutboundCapturePort))
	r.meshOutput()
}

// preInbound: what arrives on eth0 and goes straight to the VM.
//
// In the mesh that is the unproxied TCP ports and the VM's UDP: Istio
// captures TCP only, so UDP is DNATed to the guest as outside the mesh —
// each declared UDP port, or, with no ports declared, all UDP except the
// proxy's own ports (its DNS proxy on 15053 among them). TCP is never
// DNATed here in the mesh except the unproxied ports: a catch-all would
// skip the proxy (no mTLS, no authz) and send probes on 15021 to the guest.
func (r *renderer) preInbound() {
	dnat := []string{"-j", "DNAT", "--to-destination", r.vm}
	m := r.c.Mesh
	if m == nil {
		for _, match := range r.portMatches() {
			r.t.add(ChainPreInbound, cat(match, dnat)...)
		}
		return
	}
	for _, p := range uniq(m.UnproxiedPorts) {
		r.t.add(ChainPreInbound, cat([]string{"-p", "tcp", "--dport", itoa(p)}, dnat)...)
	}
	if len(r.c.Ports) == 0 {
		r.t.add(ChainPreInbound, "-p", "udp", "-m", "multiport", "--dports", strings.Join(itoas(r.proxyPorts()), ","), "-j", "RETURN")
		r.t.add(ChainPreInbound, cat([]string{"-p", "udp"}, dnat)...)
		return
	}
	for _, p := range r.c.Ports {
		if p.Protocol == "UDP" {
			r.t.add(ChainPreInbound, cat([]string{"-p", "udp", "--dport", itoa(p.Port)}, dnat)...)
		}
	}
}

// localOutput: pod-local clients (and, in the mesh, the proxy handing over
// inbound connections to podIP:port) reach the VM. 127.0.0.1 is DNATed,
// [::1] is not (see RenderRules).
func (r *renderer) localOutput() {
	var dsts []netip.Addr
	if r.f == IPv4 {
		dsts = append(dsts, r.f.Loopback())
	}
	if r.c.Mesh != nil {
		dsts = append(dsts, r.podIPs...)
		ports := strings.Join(itoas(r.proxyPorts()), ",")
		for _, proto := range []string{"tcp", "udp"} {
			r.t.add(ChainVMLocalOutput, "-p", proto, "-m", "multiport", "--dports", ports, "-j", "RETURN")
		}
	}
	for _, d := range dsts {
		for _, match := range r.portMatches() {
			r.t.add(ChainVMLocalOutput, cat([]string{"-d", host(d)}, match, []string{"-j", "DNAT", "--to-destination", r.vm})...)
		}
	}
}

// postInbound: connections DNATed from loopback addresses would be
// unroutable on the wire; they reach the VM from the gateway instead. Only
// DNATed traffic can leave k6t-eth0 from these sources, so no port match.
func (r *renderer) postInbound() {
	var srcs []netip.Addr
	if r.f == IPv4 {
		srcs = append(srcs, r.f.Loopback())
	}
	if r.c.Mesh != nil {
		srcs = append(srcs, r.f.InboundPassthrough())
	}
	for _, s := range srcs {
		r.t.add(ChainPostInbound, "-s", host(s), "-j", "SNAT", "--to-source", r.gw)
	}
}

// meshInbound is Istio's inbound capture.
func (r *renderer) meshInbound() {
	m := r.c.Mesh
	for _, p := range uniq(cat(podcontract.AlwaysExcludedInboundPorts, m.ExcludeInboundPorts)) {
		r.t.add(ChainInbound, "-p", "tcp", "--dport", itoa(p), "-j", "RETURN")
	}
	r.t.add(ChainInbound, "-p", "tcp", "-j", ChainInRedirect)
	r.t.add(ChainInRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", itoa(m.InboundCapturePort))
	r.t.add(ChainRedirect, "-p", "tcp", "-j", "REDIRECT", "--to-ports", itoa(m.OutboundCapturePort))
}

// meshOutput is Istio's ISTIO_OUTPUT: the proxy's own traffic is exempt,
// the passthrough from 127.0.0.6 returns, local-to-local traffic of other
// users returns, and the rest is redirected to the outbound listener. One
// addition: connections straight to the VM's network (the launcher's guest
// probes to 10.0.2.2) return too — they are the pod talking to its own
// workload, which the proxy must never answer. It does not touch the
// proxy's inbound hand-over: that goes to podIP:port, returns at the
// 127.0.0.6 rule and is DNATed to the VM later, in KUBEVIRT_OUTPUT.
//
// Without a VM of the family there is no inbound side: no passthrough
// RETURN and no hairpin of the proxy's connections to its own pod IP into
// the inbound capture (the proxy could hand them to nobody).
func (r *renderer) meshOutput() {
	m := r.c.Mesh
	for _, p := range uniq(m.ExcludeOutboundPorts) {
		r.t.add(ChainOutput, "-p", "tcp", "--dport", itoa(p), "-j", "RETURN")
	}
	if r.hasVM {
		r.t.add(ChainOutput, "-o", "lo", "-s", host(r.f.InboundPassthrough()), "-j", "RETURN")
	}
	for _, owner := range []struct{ flag, id string }{
		{"--uid-owner", strconv.FormatInt(m.ProxyUID, 10)},
		{"--gid-owner", strconv.FormatInt(m.ProxyGID, 10)},
	} {
		if r.hasVM {
			r.t.add(ChainOutput, "-o", "lo", "!", "-d", host(r.f.Loopback()), "-p", "tcp", "!", "--dport", "15008",
				"-m", "owner", owner.flag, owner.id, "-j", ChainInRedirect)
		}
		r.t.add(ChainOutput, "-o", "lo", "-m", "owner", "!", owner.flag, owner.id, "-j", "RETURN")
		r.t.add(ChainOutput, "-m", "owner", owner.flag, owner.id, "-j", "RETURN")
	}
	r.t.add(ChainOutput, "-d", host(r.f.Loopback()), "-j", "RETURN")
	if r.hasVM {
		r.t.add(ChainOutput, "-d", r.cidr.Masked().String(), "-j", "RETURN")
	}
	r.outboundSelection(ChainOutput)
}

// vmOutbound: the VM's TCP is the pod's outbound traffic. Unlike Istio's
// kubevirtInterfaces handling, the excluded outbound CIDRs and ports apply
// to the VM too, so an exclusion means the same thing for every workload.
func (r *renderer) vmOutbound() {
	for _, p := range uniq(r.c.Mesh.ExcludeOutboundPorts) {
		r.t.add(ChainVMOutboundRedir, "-p", "tcp", "--dport", itoa(p), "-j", "RETURN")
	}
	r.outboundSelection(ChainVMOutboundRedir)
}

// outboundSelection appends the excluded-CIDR returns and the redirect
// (for everything, or per included CIDR of this family).
func (r *renderer) outboundSelection(chain string) {
	m := r.c.Mesh
	for _, p := range m.ExcludeOutboundCIDRs {
		if r.f.has(p.Addr()) {
			r.t.add(chain, "-d", p.Masked().String(), "-j", "RETURN")
		}
	}
	if m.IncludeOutboundCIDRs == nil || slices.Equal(m.IncludeOutboundCIDRs, []string{"*"}) {
		r.t.add(chain, "-j", ChainRedirect)
		return
	}
	for _, s := range m.IncludeOutboundCIDRs {
		p := netip.MustParsePrefix(s) // checked by Validate
		if r.f.has(p.Addr()) {
			r.t.add(chain, "-d", p.Masked().String(), "-j", ChainRedirect)
		}
	}
}

// portMatches is one match per declared port, or a single empty match
// (all traffic) when the VM declares none.
func (r *renderer) portMatches() [][]string {
	if len(r.c.Ports) == 0 {
		return [][]string{nil}
	}
	var out [][]string
	for _, p := range r.c.Ports {
		out = append(out, []string{"-p", strings.ToLower(p.Protocol), "--dport", itoa(p.Port)})
	}
	return out
}

// proxyPorts are never DNATed into the VM: the reserved ports plus the
// configured capture ports.
func (r *renderer) proxyPorts() []uint16 {
	ps := cat(podcontract.ReservedMeshPorts, []uint16{r.c.Mesh.InboundCapturePort, r.c.Mesh.OutboundCapturePort})
	slices.Sort(ps)
	return slices.Compact(ps)
}

func host(a netip.Addr) string {
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()).String()
}

func itoa(p uint16) string { return strconv.Itoa(int(p)) }

func itoas(ps []uint16) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = itoa(p)
	}
	return out
}

func cat[T any](parts ...[]T) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// uniq keeps the first occurrence of each port, preserving order.
func uniq(ps []uint16) []uint16 {
	var out []uint16
	for _, p := range ps {
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out
}

// VMCIDR returns the VM network of family f.
func VMCIDR(n podcontract.VMNetwork, f Family) netip.Prefix {
	if f == IPv6 {
		return n.VMIPv6CIDR
	}
	return n.VMCIDR
}
