package dataplane

import "net/netip"

// Port is a port the VM declares. Protocol is "TCP" or "UDP".
type Port struct {
	Protocol string
	Port     uint16
}

// Mesh describes the proxy's traffic capture. A nil *Mesh in Config means
// the VM is not in the mesh.
type Mesh struct {
	ProxyUID, ProxyGID  int64
	InboundCapturePort  uint16
	OutboundCapturePort uint16
	// ExcludeInboundPorts are not captured inbound, in addition to the
	// always-excluded AlwaysExcludedInboundPorts. Traffic to them reaches the
	// pod's own network stack, not the VM (use UnproxiedPorts for that).
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

// Config is everything net-setup needs to plumb and program a launcher pod.
type Config struct {
	PodInterface string
	Bridge       string
	Tap          string
	VMCIDR       netip.Prefix
	// VMIPv6CIDR is used only when the pod has an IPv6 address.
	VMIPv6CIDR  netip.Prefix
	TapOwnerUID int64
	// TunDevice, when set, is where net-setup creates a tun character
	// device node (c 10:200) owned by TapOwnerUID:TapOwnerUID, mode 0600,
	// in a volume shared with compute. Container runtimes give containers
	// no /dev/net/tun, so this node is how QEMU's process reaches the tap
	// without a device plugin. Empty: no node is created.
	TunDevice string
	// Ports are the VM's declared ports; empty means all ports.
	Ports []Port
	Mesh  *Mesh
}

// ReservedMeshPorts are the proxy's own ports. They are never DNATed into
// the VM and cannot be declared as VM ports.
var ReservedMeshPorts = []uint16{15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090}

// AlwaysExcludedInboundPorts are never sent to the inbound capture port:
// the tunnel port, Envoy's metrics, the health port and the agent port.
var AlwaysExcludedInboundPorts = []uint16{15008, 15090, 15021, 15020}

// Defaults shared by the operator and the launcher.
const (
	DefaultPodInterface        = "eth0"
	DefaultBridge              = "k6t-eth0"
	DefaultTap                 = "tap0"
	DefaultTapOwnerUID         = 107
	DefaultProxyUID            = 1337
	DefaultInboundCapturePort  = 15006
	DefaultOutboundCapturePort = 15001
)

// Tun's character device numbers (Documentation/admin-guide/devices.txt:
// 10 char, 200 = /dev/net/tun).
const (
	TunDeviceMajor = 10
	TunDeviceMinor = 200
)

// BridgeMAC is the fixed MAC of the bridge (the guest's gateway), as KubeVirt uses.
const BridgeMAC = "02:00:00:00:00:00"

var (
	defaultVMCIDR     = netip.MustParsePrefix("10.0.2.0/24")
	defaultVMIPv6CIDR = netip.MustParsePrefix("fd10:0:2::/120")
)

// DefaultConfig is a launcher pod outside the mesh with KubeVirt's defaults.
func DefaultConfig() Config {
	return Config{
		PodInterface: DefaultPodInterface,
		Bridge:       DefaultBridge,
		Tap:          DefaultTap,
		VMCIDR:       defaultVMCIDR,
		VMIPv6CIDR:   defaultVMIPv6CIDR,
		TapOwnerUID:  DefaultTapOwnerUID,
	}
}

// DefaultMesh is Istio's default capture in REDIRECT mode.
func DefaultMesh() *Mesh {
	return &Mesh{
		ProxyUID:            DefaultProxyUID,
		ProxyGID:            DefaultProxyUID,
		InboundCapturePort:  DefaultInboundCapturePort,
		OutboundCapturePort: DefaultOutboundCapturePort,
	}
}

// Gateway is the bridge's address in p: the first host address.
func Gateway(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// VMAddress is the guest's address in p: the second host address.
func VMAddress(p netip.Prefix) netip.Addr { return Gateway(p).Next() }

// CIDRFor returns the VM network of the given family.
func (c Config) CIDRFor(f Family) netip.Prefix {
	if f == IPv6 {
		return c.VMIPv6CIDR
	}
	return c.VMCIDR
}
