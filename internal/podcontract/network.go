package podcontract

import (
	"flag"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Interfaces inside the pod's network namespace.
const (
	// DefaultPodInterface is the pod's own interface, holding the pod IP.
	DefaultPodInterface = "eth0"
	// DefaultBridge is the in-pod bridge (the guest's gateway), as KubeVirt
	// names it; compute's DHCP server answers the guest on it.
	DefaultBridge = "k6t-eth0"
	// DefaultTap is the tap device QEMU's virtio-net is backed by.
	DefaultTap = "tap0"
	// BridgeMAC is the bridge's fixed MAC, as KubeVirt uses.
	BridgeMAC = "02:00:00:00:00:00"
)

// Tun's character device numbers (Documentation/admin-guide/devices.txt:
// 10 char, 200 = /dev/net/tun).
const (
	TunDeviceMajor = 10
	TunDeviceMinor = 200
)

// KubeVirt's default VM networks inside the pod.
var (
	DefaultVMCIDR     = netip.MustParsePrefix("10.0.2.0/24")
	DefaultVMIPv6CIDR = netip.MustParsePrefix("fd10:0:2::/120")
)

// IPv6ForwardingSysctl is the sysctl the VM's IPv6 needs (VMNetwork.IPv6)
// and that nothing in the pod can set: the renderer puts it into the pod's
// securityContext.sysctls, the kubelet sets it (only where it is allowed
// with KubeletAllowIPv6ForwardingFlag: it is not a "safe" sysctl), and
// net-setup checks it.
const (
	IPv6ForwardingSysctl           = "net.ipv6.conf.all.forwarding"
	KubeletAllowIPv6ForwardingFlag = "--allowed-unsafe-sysctls=" + IPv6ForwardingSysctl
)

// VMNetwork is the VM's side of the pod network: where the bridge and tap
// are and which private networks the VM lives in. net-setup plumbs and NATs
// it and compute's DHCP server hands it out; the renderer writes the same
// value into both containers' flags.
type VMNetwork struct {
	PodInterface string
	Bridge       string
	Tap          string
	VMCIDR       netip.Prefix
	// VMIPv6CIDR is used only with IPv6 and when the pod has an IPv6 address.
	VMIPv6CIDR netip.Prefix
	// IPv6 gives the VM IPv6 in a pod that has it: a gateway address on the
	// bridge, DHCPv6 and the IPv6 NAT. Forwarding the VM's IPv6 needs
	// net.ipv6.conf.all.forwarding=1 in the pod's network namespace, which
	// has no netlink path and which a container cannot write: the kubelet
	// sets it from the pod's securityContext.sysctls (an unsafe sysctl it
	// must allow), so this is on only when the operator renders that sysctl.
	// Off, the VM is IPv4-only and IPv6 connections to the pod are refused.
	IPv6 bool
}

// DefaultVMNetwork is KubeVirt's masquerade layout.
func DefaultVMNetwork() VMNetwork {
	return VMNetwork{
		PodInterface: DefaultPodInterface,
		Bridge:       DefaultBridge,
		Tap:          DefaultTap,
		VMCIDR:       DefaultVMCIDR,
		VMIPv6CIDR:   DefaultVMIPv6CIDR,
	}
}

func (n *VMNetwork) flags() []flagSpec {
	return []flagSpec{
		{"pod-interface", "the pod's interface holding the pod IP", stringValue{&n.PodInterface}},
		{"bridge", "in-pod bridge, the guest's gateway", stringValue{&n.Bridge}},
		{"tap", "tap device backing the guest's NIC", stringValue{&n.Tap}},
		{"vm-cidr", "IPv4 network between the VM and the pod", prefixValue{&n.VMCIDR}},
		{"vm-ipv6-cidr", "IPv6 network between the VM and the pod", prefixValue{&n.VMIPv6CIDR}},
		{"vm-ipv6", "give the VM IPv6 when the pod has it (needs net.ipv6.conf.all.forwarding=1 set by the kubelet)", boolValue{&n.IPv6}},
	}
}

// Gateway is the bridge's address in p: the first host address.
func Gateway(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// VMAddress is the guest's address in p: the second host address.
func VMAddress(p netip.Prefix) netip.Addr { return Gateway(p).Next() }

// Port is a port the VM declares. Protocol is "TCP" or "UDP".
type Port struct {
	Protocol string
	Port     uint16
}

// String is the flag form, e.g. tcp:9080.
func (p Port) String() string { return strings.ToLower(p.Protocol) + ":" + strconv.Itoa(int(p.Port)) }

// ParsePort parses "tcp:9080" as written by Port.String.
func ParsePort(s string) (Port, error) {
	proto, num, ok := strings.Cut(s, ":")
	if !ok {
		return Port{}, fmt.Errorf("port %q: want protocol:number, e.g. tcp:9080", s)
	}
	n, err := parseUint16(num)
	if err != nil {
		return Port{}, err
	}
	return Port{Protocol: strings.ToUpper(proto), Port: n}, nil
}

// MeshCapture describes the proxy's traffic capture. A nil *MeshCapture in
// NetSetupOptions means the VM is not in the mesh.
type MeshCapture struct {
	ProxyUID, ProxyGID  int64
	InboundCapturePort  uint16
	OutboundCapturePort uint16
	// ExcludeInboundPorts are not captured inbound, in addition to
	// AlwaysExcludedInboundPorts. Traffic to them reaches the pod's own
	// network stack, not the VM (use UnproxiedPorts for that).
	ExcludeInboundPorts []uint16
	// IncludeOutboundCIDRs: nil or ["*"] captures all outbound TCP; otherwise
	// only these CIDRs (an empty non-nil list captures nothing).
	IncludeOutboundCIDRs []string
	ExcludeOutboundCIDRs []netip.Prefix
	ExcludeOutboundPorts []uint16
	// UnproxiedPorts are inbound TCP ports DNATed straight to the VM,
	// bypassing the proxy (and so mTLS and authorization). Empty by default.
	UnproxiedPorts []uint16
}

// DefaultMesh is Istio's default capture in REDIRECT mode.
func DefaultMesh() *MeshCapture {
	return &MeshCapture{
		ProxyUID:            ProxyUID,
		ProxyGID:            ProxyUID,
		InboundCapturePort:  InboundCapturePort,
		OutboundCapturePort: OutboundCapturePort,
	}
}

func (m *MeshCapture) flags() []flagSpec {
	return []flagSpec{
		{"proxy-uid", "uid of the proxy, whose traffic is not captured", int64Value{&m.ProxyUID}},
		{"proxy-gid", "gid of the proxy", int64Value{&m.ProxyGID}},
		{"inbound-capture-port", "port captured inbound TCP is redirected to", uint16Value{&m.InboundCapturePort}},
		{"outbound-capture-port", "port captured outbound TCP is redirected to", uint16Value{&m.OutboundCapturePort}},
		{"exclude-inbound-port", "inbound port not captured (repeatable)", uint16List(&m.ExcludeInboundPorts)},
		{"include-outbound-cidrs", "comma-separated CIDRs captured outbound; absent: all", optionalCSV{&m.IncludeOutboundCIDRs}},
		{"exclude-outbound-cidr", "outbound CIDR not captured (repeatable)", prefixList(&m.ExcludeOutboundCIDRs)},
		{"exclude-outbound-port", "outbound port not captured (repeatable)", uint16List(&m.ExcludeOutboundPorts)},
		{"unproxied-port", "inbound TCP port DNATed straight to the VM (repeatable)", uint16List(&m.UnproxiedPorts)},
	}
}

// NetSetupOptions is everything net-setup needs to plumb and program a
// launcher pod: the net-setup container's flags.
type NetSetupOptions struct {
	VMNetwork
	TapOwnerUID int64
	// TunDevice, when set, is where net-setup creates a tun character device
	// node (c 10:200) owned by TapOwnerUID, mode 0600, in a volume shared
	// with compute: container runtimes give containers no /dev/net/tun, so
	// this node is how QEMU's process reaches the tap without a device
	// plugin. Empty: no node is created.
	TunDevice string
	// Ports are the VM's declared ports; empty means all ports.
	Ports []Port
	Mesh  *MeshCapture
}

// DefaultNetSetupOptions is a launcher pod outside the mesh with KubeVirt's
// defaults.
func DefaultNetSetupOptions() NetSetupOptions {
	return NetSetupOptions{VMNetwork: DefaultVMNetwork(), TapOwnerUID: QEMUUID}
}

// flagMesh turns the mesh flags on; they are rejected without it.
const flagMesh = "mesh"

func (o *NetSetupOptions) flags() []flagSpec {
	return append(o.VMNetwork.flags(),
		flagSpec{"tap-owner-uid", "uid owning the tap and the tun node", int64Value{&o.TapOwnerUID}},
		flagSpec{"tun-device", "where to create the tun node for compute (empty: none)", stringValue{&o.TunDevice}},
		flagSpec{"port", "a VM port as protocol:number (repeatable; none: all ports)", portList(&o.Ports)},
	)
}

// Args renders o as net-setup's flags in a fixed order: every scalar always,
// list flags once per element, and the mesh flags after --mesh=true.
func (o NetSetupOptions) Args() []string {
	a := renderFlags(o.flags())
	if o.Mesh == nil {
		return a
	}
	m := *o.Mesh
	a = append(a, arg(flagMesh, "true")...)
	return append(a, renderFlags(m.flags())...)
}

// ParseNetSetupArgs is the exact inverse of NetSetupOptions.Args. Absent
// flags keep DefaultNetSetupOptions' (and, with --mesh, DefaultMesh's)
// values; mesh flags require --mesh. It checks syntax only: call Validate.
func ParseNetSetupArgs(args []string) (NetSetupOptions, error) {
	o := DefaultNetSetupOptions()
	mesh := DefaultMesh()
	meshOn := false
	meshFlags := mesh.flags()
	fs := newFlagSet(SubcommandNetSetup, o.flags(), meshFlags,
		[]flagSpec{{flagMesh, "the VM is in the mesh: program the proxy's capture", boolValue{&meshOn}}})
	if err := parseFlagSet(fs, args); err != nil {
		return NetSetupOptions{}, err
	}
	if meshOn {
		o.Mesh = mesh
		return o, nil
	}
	var stray []string
	fs.Visit(func(f *flag.Flag) {
		for _, m := range meshFlags {
			if m.name == f.Name {
				stray = append(stray, "--"+f.Name)
			}
		}
	})
	if len(stray) > 0 {
		return NetSetupOptions{}, fmt.Errorf("%s: %s needs --%s", SubcommandNetSetup, strings.Join(stray, ", "), flagMesh)
	}
	return o, nil
}
