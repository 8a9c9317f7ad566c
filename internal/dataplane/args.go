package dataplane

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Flag names of the net-setup init container. They are part of the pod
// spec that users see, so they spell out every value instead of relying on
// defaults hidden in the binary.
const (
	flagPodInterface        = "--pod-interface"
	flagBridge              = "--bridge"
	flagTap                 = "--tap"
	flagVMCIDR              = "--vm-cidr"
	flagVMIPv6CIDR          = "--vm-ipv6-cidr"
	flagTapOwnerUID         = "--tap-owner-uid"
	flagTunDevice           = "--tun-device"
	flagPort                = "--port"
	flagMesh                = "--mesh"
	flagProxyUID            = "--proxy-uid"
	flagProxyGID            = "--proxy-gid"
	flagInboundCapturePort  = "--inbound-capture-port"
	flagOutboundCapturePort = "--outbound-capture-port"
	flagExcludeInboundPort  = "--exclude-inbound-port"
	flagIncludeOutbound     = "--include-outbound-cidrs"
	flagExcludeOutboundCIDR = "--exclude-outbound-cidr"
	flagExcludeOutboundPort = "--exclude-outbound-port"
	flagUnproxiedPort       = "--unproxied-port"
)

// Args renders c as the init container's flags in a fixed order. Every
// scalar is always present; list flags repeat once per element in the
// order given. IncludeOutboundCIDRs is a single comma-separated flag so that
// nil (flag absent, capture all) and an empty list (flag with an empty
// value, capture nothing) survive the round trip through ParseArgs.
func (c Config) Args() []string {
	a := []string{
		flagPodInterface + "=" + c.PodInterface,
		flagBridge + "=" + c.Bridge,
		flagTap + "=" + c.Tap,
		flagVMCIDR + "=" + c.VMCIDR.String(),
		flagVMIPv6CIDR + "=" + c.VMIPv6CIDR.String(),
		flagTapOwnerUID + "=" + strconv.FormatInt(c.TapOwnerUID, 10),
		flagTunDevice + "=" + c.TunDevice,
	}
	for _, p := range c.Ports {
		a = append(a, fmt.Sprintf("%s=%s:%d", flagPort, strings.ToLower(p.Protocol), p.Port))
	}
	m := c.Mesh
	if m == nil {
		return a
	}
	a = append(a,
		flagMesh,
		flagProxyUID+"="+strconv.FormatInt(m.ProxyUID, 10),
		flagProxyGID+"="+strconv.FormatInt(m.ProxyGID, 10),
		flagInboundCapturePort+"="+strconv.Itoa(int(m.InboundCapturePort)),
		flagOutboundCapturePort+"="+strconv.Itoa(int(m.OutboundCapturePort)),
	)
	a = appendPorts(a, flagExcludeInboundPort, m.ExcludeInboundPorts)
	if m.IncludeOutboundCIDRs != nil {
		a = append(a, flagIncludeOutbound+"="+strings.Join(m.IncludeOutboundCIDRs, ","))
	}
	for _, p := range m.ExcludeOutboundCIDRs {
		a = append(a, flagExcludeOutboundCIDR+"="+p.String())
	}
	a = appendPorts(a, flagExcludeOutboundPort, m.ExcludeOutboundPorts)
	a = appendPorts(a, flagUnproxiedPort, m.UnproxiedPorts)
	return a
}

func appendPorts(a []string, flag string, ports []uint16) []string {
	for _, p := range ports {
		a = append(a, flag+"="+strconv.Itoa(int(p)))
	}
	return a
}

// ParseArgs is the inverse of Config.Args. Flags that are absent keep
// DefaultConfig's (and, with --mesh, DefaultMesh's) values; mesh flags
// require --mesh. It checks syntax only: call Validate on the result.
func ParseArgs(args []string) (Config, error) {
	c := DefaultConfig()
	for _, arg := range args {
		if arg == flagMesh {
			c.Mesh = DefaultMesh()
		}
	}
	for _, arg := range args {
		if arg == flagMesh {
			continue
		}
		name, value, ok := strings.Cut(arg, "=")
		if !ok {
			return Config{}, fmt.Errorf("flag %q: want %s=value", arg, name)
		}
		if err := parseFlag(&c, name, value); err != nil {
			return Config{}, fmt.Errorf("flag %q: %w", arg, err)
		}
	}
	return c, nil
}

func parseFlag(c *Config, name, value string) error {
	var err error
	switch name {
	case flagPodInterface:
		c.PodInterface = value
	case flagBridge:
		c.Bridge = value
	case flagTap:
		c.Tap = value
	case flagVMCIDR:
		c.VMCIDR, err = netip.ParsePrefix(value)
	case flagVMIPv6CIDR:
		c.VMIPv6CIDR, err = netip.ParsePrefix(value)
	case flagTapOwnerUID:
		c.TapOwnerUID, err = strconv.ParseInt(value, 10, 64)
	case flagTunDevice:
		c.TunDevice = value
	case flagPort:
		var p Port
		p, err = parsePort(value)
		c.Ports = append(c.Ports, p)
	default:
		if c.Mesh == nil {
			if isMeshFlag(name) {
				return fmt.Errorf("needs %s", flagMesh)
			}
			return fmt.Errorf("unknown flag %s", name)
		}
		return parseMeshFlag(c.Mesh, name, value)
	}
	return err
}

func isMeshFlag(name string) bool {
	switch name {
	case flagProxyUID, flagProxyGID, flagInboundCapturePort, flagOutboundCapturePort,
		flagExcludeInboundPort, flagIncludeOutbound, flagExcludeOutboundCIDR,
		flagExcludeOutboundPort, flagUnproxiedPort:
		return true
	}
	return false
}

func parseMeshFlag(m *Mesh, name, value string) error {
	var err error
	var p uint16
	switch name {
	case flagProxyUID:
		m.ProxyUID, err = strconv.ParseInt(value, 10, 64)
	case flagProxyGID:
		m.ProxyGID, err = strconv.ParseInt(value, 10, 64)
	case flagInboundCapturePort:
		m.InboundCapturePort, err = parseUint16(value)
	case flagOutboundCapturePort:
		m.OutboundCapturePort, err = parseUint16(value)
	case flagExcludeInboundPort:
		p, err = parseUint16(value)
		m.ExcludeInboundPorts = append(m.ExcludeInboundPorts, p)
	case flagIncludeOutbound:
		m.IncludeOutboundCIDRs = []string{}
		if value != "" {
			m.IncludeOutboundCIDRs = strings.Split(value, ",")
		}
	case flagExcludeOutboundCIDR:
		var pfx netip.Prefix
		pfx, err = netip.ParsePrefix(value)
		m.ExcludeOutboundCIDRs = append(m.ExcludeOutboundCIDRs, pfx)
	case flagExcludeOutboundPort:
		p, err = parseUint16(value)
		m.ExcludeOutboundPorts = append(m.ExcludeOutboundPorts, p)
	case flagUnproxiedPort:
		p, err = parseUint16(value)
		m.UnproxiedPorts = append(m.UnproxiedPorts, p)
	default:
		return fmt.Errorf("unknown flag %s", name)
	}
	return err
}

// parsePort parses "tcp:9080" as written by Args.
func parsePort(s string) (Port, error) {
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

func parseUint16(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q: %w", s, err)
	}
	return uint16(n), nil
}
