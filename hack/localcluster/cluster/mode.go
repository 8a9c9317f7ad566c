package cluster

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Mode is what runs the pods.
type Mode string

const (
	// RealNode is a node on this host: containerd, the kubelet and
	// kube-proxy run; pods run, VMs boot.
	RealNode Mode = "real"
	// Kwok is simulated nodes: kwok marks pods Running, nothing runs.
	Kwok Mode = "kwok"
)

// Choice is the mode and why.
type Choice struct {
	Mode Mode
	// KwokNodes is the number of simulated nodes (kwok mode).
	KwokNodes int
	Reason    string
}

// DefaultKwokNodes is the number of simulated nodes unless told otherwise.
const DefaultKwokNodes = 2

// ChooseMode decides from VIRTMESH_NODES (make run-local NODES=...):
//
//	""       the real node when running as root on Linux, else kwok
//	"real"   the real node, or an error saying why it cannot run here
//	"kwok"   kwok with DefaultKwokNodes simulated nodes
//	N        kwok with N simulated nodes (hack/scale-run.sh sets a number)
func ChooseMode(nodes, goos string, euid int) (Choice, error) {
	nodes = strings.TrimSpace(nodes)
	whyNotReal := ""
	switch {
	case goos != "linux":
		whyNotReal = "the real node needs Linux (this is " + goos + ")"
	case euid != 0:
		whyNotReal = "the real node needs root (containerd, the kubelet, iptables and cgroups)"
	}
	switch {
	case nodes == "":
		if whyNotReal != "" {
			return Choice{Mode: Kwok, KwokNodes: DefaultKwokNodes, Reason: whyNotReal + ", so kwok simulates the nodes: pods are marked Running and no VM boots"}, nil
		}
		return Choice{Mode: RealNode, Reason: "running as root on Linux: containerd, the kubelet and kube-proxy run on this host and the VMs boot (NODES=kwok simulates nodes instead)"}, nil
	case nodes == string(RealNode):
		if whyNotReal != "" {
			return Choice{}, fmt.Errorf("NODES=real: %s", whyNotReal)
		}
		return Choice{Mode: RealNode, Reason: "asked for the real node (NODES=real)"}, nil
	case nodes == string(Kwok):
		return Choice{Mode: Kwok, KwokNodes: DefaultKwokNodes, Reason: "asked for kwok (NODES=kwok): simulated nodes, no VM boots"}, nil
	}
	n, err := strconv.Atoi(nodes)
	if err != nil || n < 1 {
		return Choice{}, fmt.Errorf("VIRTMESH_NODES=%q: want real, kwok or a number of kwok nodes", nodes)
	}
	return Choice{Mode: Kwok, KwokNodes: n, Reason: fmt.Sprintf("VIRTMESH_NODES=%d: %d simulated kwok nodes, no VM boots", n, n)}, nil
}

// NodeIP picks the node's InternalIP from this host's addresses: the first
// global IPv4 address of the interface with the default route, else of any
// interface that is up. Loopback addresses never qualify: the API server
// refuses to proxy to them.
func NodeIP(defaultRouteIface string, ifaces []Iface) (string, error) {
	pick := func(ifc Iface) string {
		for _, a := range ifc.Addrs {
			ip, _, err := net.ParseCIDR(a)
			if err != nil {
				ip = net.ParseIP(a)
			}
			if ip != nil && ip.To4() != nil && ip.IsGlobalUnicast() {
				return ip.String()
			}
		}
		return ""
	}
	for _, ifc := range ifaces {
		if ifc.Name == defaultRouteIface && ifc.Up {
			if ip := pick(ifc); ip != "" {
				return ip, nil
			}
		}
	}
	for _, ifc := range ifaces {
		if ifc.Up && !ifc.Loopback {
			if ip := pick(ifc); ip != "" {
				return ip, nil
			}
		}
	}
	return "", fmt.Errorf("no non-loopback IPv4 address on this host: the node needs one (its InternalIP)")
}

// Iface is what NodeIP needs of an interface.
type Iface struct {
	Name         string
	Up, Loopback bool
	// Addrs are CIDRs ("192.0.2.2/24").
	Addrs []string
}

// HostIfaces lists this host's interfaces and the default route's interface.
func HostIfaces() (defaultIface string, out []Iface, err error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return "", nil, err
	}
	for _, i := range ifs {
		addrs, _ := i.Addrs()
		ifc := Iface{Name: i.Name, Up: i.Flags&net.FlagUp != 0, Loopback: i.Flags&net.FlagLoopback != 0}
		for _, a := range addrs {
			ifc.Addrs = append(ifc.Addrs, a.String())
		}
		out = append(out, ifc)
	}
	return defaultRouteIface(), out, nil
}
