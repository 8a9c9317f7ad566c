package netsetup

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"

	"virtmesh.io/virtmesh/internal/dataplane"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// Report is what Run did, printed by net-setup so the init container's log
// shows exactly what the pod's dataplane is.
type Report struct {
	MTU      int
	PodIPs   []netip.Addr
	Gateways []netip.Prefix
	Sysctls  []Sysctl
	// TunNode is the tun device node made for compute ("" when none) and
	// whether this run created it (false: an existing one was kept).
	TunNode        string
	TunNodeCreated bool
	Rules          map[dataplane.Family]string
	// Notes say what the pod's network is not, for people wondering why
	// (the VM is IPv4-only).
	Notes    []string
	Warnings []string
}

// Run plumbs the current network namespace for cfg and applies the nat
// rules of both families: links first, then the per-device sysctls, then the
// rules, which need both.
func Run(ctx context.Context, cfg podcontract.NetSetupOptions) (Report, error) {
	var r Report
	if err := cfg.Validate(); err != nil {
		return r, fmt.Errorf("invalid config: %w", err)
	}
	pod, err := inspectPodInterface(cfg.PodInterface)
	if err != nil {
		return r, err
	}
	r.MTU, r.PodIPs = pod.mtu, pod.ips
	// Before changing anything: the VM's IPv6 needs a sysctl only the
	// kubelet can set.
	if err := checkIPv6(cfg, pod, &r); err != nil {
		return r, err
	}
	br, err := plumb(cfg, pod, &r)
	if err != nil {
		return r, err
	}
	if err := setSysctls(cfg, pod, br, &r); err != nil {
		return r, err
	}
	err = applyNAT(ctx, cfg, pod, &r)
	return r, err
}

// vmFamilies are the address families the VM has: IPv4, and IPv6 when
// asked for (--vm-ipv6) and the pod has it.
func vmFamilies(cfg podcontract.NetSetupOptions, pod podInterface) []dataplane.Family {
	if cfg.IPv6 && pod.hasIPv6() {
		return []dataplane.Family{dataplane.IPv4, dataplane.IPv6}
	}
	return []dataplane.Family{dataplane.IPv4}
}

// checkIPv6 reads net.ipv6.conf.all.forwarding when the VM is to have
// IPv6 and fails unless it is 1 (see checkIPv6Forwarding), and notes when
// the VM is IPv4-only in a pod that has IPv6.
func checkIPv6(cfg podcontract.NetSetupOptions, pod podInterface, r *Report) error {
	switch {
	case !pod.hasIPv6() && cfg.IPv6:
		r.Notes = append(r.Notes, fmt.Sprintf("--vm-ipv6=true but %s has no global IPv6 address: the VM is IPv4-only", cfg.PodInterface))
	case !pod.hasIPv6():
	case !cfg.IPv6:
		r.Notes = append(r.Notes, "the VM is IPv4-only (--vm-ipv6=false): no IPv6 address, DHCPv6 or NAT for it; "+
			"IPv6 connections to the pod reach only the pod's own listeners and are otherwise refused")
	default:
		sc, err := checkIPv6Forwarding()
		if err != nil {
			return err
		}
		r.Sysctls = append(r.Sysctls, sc)
	}
	return nil
}

// families are the address families the pod has, hence the nat tables.
func families(pod podInterface) []dataplane.Family {
	if pod.hasIPv6() {
		return []dataplane.Family{dataplane.IPv4, dataplane.IPv6}
	}
	return []dataplane.Family{dataplane.IPv4}
}

// plumb brings lo up and makes the bridge with its gateway addresses, the
// tun node and the tap.
func plumb(cfg podcontract.NetSetupOptions, pod podInterface, r *Report) (netlink.Link, error) {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		// The proxy hands connections over from 127.0.0.6; lo is up in
		// every real pod, but make sure of it.
		if err := netlink.LinkSetUp(lo); err != nil {
			return nil, fmt.Errorf("bringing lo up: %w", err)
		}
	}
	br, err := ensureBridge(cfg.Bridge, pod.mtu)
	if err != nil {
		return nil, err
	}
	for _, f := range vmFamilies(cfg, pod) {
		gw, err := ensureAddress(br, dataplane.VMCIDR(cfg.VMNetwork, f))
		if err != nil {
			return nil, err
		}
		r.Gateways = append(r.Gateways, gw)
	}
	// The tun node first: the tap is created through it, as the
	// container has no /dev/net/tun either.
	if cfg.TunDevice != "" {
		created, err := ensureTunNode(cfg.TunDevice, cfg.TapOwnerUID)
		if err != nil {
			return nil, err
		}
		r.TunNode, r.TunNodeCreated = cfg.TunDevice, created
	}
	if _, err := ensureTap(cfg.TunDevice, cfg.Tap, cfg.TapOwnerUID, pod.mtu, br); err != nil {
		return nil, err
	}
	return br, nil
}

// setSysctls sets IPv4 forwarding and route_localnet. Forwarding is checked
// on the input device: eth0 for inbound DNAT to the VM, the bridge for the
// VM's egress. route_localnet lets the proxy's 127.0.0.x connections be
// DNATed out of the bridge. (IPv6 forwarding is the kubelet's: checkIPv6.)
// In the mesh with the VM's IPv6, ::6 goes on lo.
func setSysctls(cfg podcontract.NetSetupOptions, pod podInterface, br netlink.Link, r *Report) error {
	for _, s := range []struct {
		link  netlink.Link
		name  string
		id    int
		value uint32
	}{
		{pod.link, "forwarding", ipv4DevconfForwarding, 1},
		{br, "forwarding", ipv4DevconfForwarding, 1},
		{br, "route_localnet", ipv4DevconfRouteLocalnet, 1},
	} {
		sc, err := setIPv4DevConf(s.link, s.name, s.id, s.value)
		if err != nil {
			return err
		}
		r.Sysctls = append(r.Sysctls, sc)
	}
	if len(vmFamilies(cfg, pod)) == 1 || cfg.Mesh == nil {
		return nil
	}
	// The proxy hands IPv6 connections over from ::6, which (unlike
	// 127.0.0.6) is not a loopback address: it must be local so that the
	// VM's replies, un-SNATed to ::6, are delivered to the proxy.
	return ensureLoopbackAddress("::6/128")
}

// applyNAT renders and applies the nat table of each family.
func applyNAT(ctx context.Context, cfg podcontract.NetSetupOptions, pod podInterface, r *Report) error {
	r.Rules = map[dataplane.Family]string{}
	for _, f := range families(pod) {
		rules, err := dataplane.RenderRules(cfg, f, pod.ips...)
		if err != nil {
			return err
		}
		if err := applyRules(ctx, f, rules); err != nil {
			return fmt.Errorf("applying %s nat rules: %w", f, err)
		}
		r.Rules[f] = rules
	}
	return nil
}

// Print writes the report in a form meant for people reading pod logs.
func (r Report) Print(w io.Writer) {
	fmt.Fprintf(w, "Pod interface: mtu=%d ips=%v\n", r.MTU, r.PodIPs)
	fmt.Fprintf(w, "Bridge gateway addresses: %v\n", r.Gateways)
	if r.TunNode != "" {
		verb := "kept"
		if r.TunNodeCreated {
			verb = "created"
		}
		fmt.Fprintf(w, "Tun device node %s (c %d:%d, owner uid/gid of the tap, mode 0600): %s\n", r.TunNode, podcontract.TunDeviceMajor, podcontract.TunDeviceMinor, verb)
	}
	for _, s := range r.Sysctls {
		fmt.Fprintf(w, "Sysctl %s=%s (via %s)\n", s.Key, s.Value, s.Method)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "Note: %s\n", n)
	}
	for _, warn := range r.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	for _, f := range []dataplane.Family{dataplane.IPv4, dataplane.IPv6} {
		if rules, ok := r.Rules[f]; ok {
			fmt.Fprintf(w, "Applied %s nat table with %s:\n%s", f, RestoreCommand(f), indent(rules))
		}
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
