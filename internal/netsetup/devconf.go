package netsetup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// IPv4 per-device configuration keys (enum in linux/ip.h). The kernel
// accepts them in RTM_SETLINK under IFLA_AF_SPEC/AF_INET/IFLA_INET_CONF.
const (
	ipv4DevconfForwarding    = 1
	ipv4DevconfRouteLocalnet = 26
)

// Method says how a sysctl was set, for the report and the docs.
type Method string

const (
	// MethodNetlink needs only CAP_NET_ADMIN in the pod's network namespace.
	MethodNetlink Method = "rtnetlink"
	// MethodProcSys needs a writable /proc/sys, which a container only has
	// when privileged.
	MethodProcSys Method = "/proc/sys"
	// MethodPodSysctl is set by the kubelet from the pod's
	// securityContext.sysctls; net-setup only checked it.
	MethodPodSysctl Method = "the pod's securityContext.sysctls (set by the kubelet, checked)"
)

// Sysctl is one setting applied, for the report.
type Sysctl struct {
	Key    string // e.g. net.ipv4.conf.k6t-eth0.route_localnet
	Value  string
	Method Method
}

// setIPv4DevConf sets an IPv4 per-device setting over rtnetlink, and falls
// back to /proc/sys when the kernel refuses. IPv4 forwarding is decided per
// input device (IN_DEV_FORWARD), so setting it on the devices that receive
// forwarded traffic is enough; the global net.ipv4.ip_forward is not needed.
func setIPv4DevConf(link netlink.Link, name string, id int, value uint32) (Sysctl, error) {
	key := fmt.Sprintf("net.ipv4.conf.%s.%s", link.Attrs().Name, name)
	s := Sysctl{Key: key, Value: fmt.Sprint(value), Method: MethodNetlink}
	nlErr := setIPv4DevConfNetlink(link.Attrs().Index, id, value)
	if nlErr == nil {
		if got, err := readSysctl(key); err == nil && got != s.Value {
			nlErr = fmt.Errorf("kernel accepted the request but %s reads %s", key, got)
		} else if err == nil {
			return s, nil
		}
	}
	s.Method = MethodProcSys
	if err := writeSysctl(key, s.Value); err != nil {
		return s, fmt.Errorf("setting %s=%d: over rtnetlink: %v; via /proc/sys: %w", key, value, nlErr, err)
	}
	return s, nil
}

func setIPv4DevConfNetlink(index, id int, value uint32) error {
	req := nl.NewNetlinkRequest(unix.RTM_SETLINK, unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	inet := spec.AddRtAttr(unix.AF_INET, nil)
	conf := inet.AddRtAttr(unix.IFLA_INET_CONF, nil)
	conf.AddRtAttr(id, nl.Uint32Attr(value))
	req.AddData(spec)
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("RTM_SETLINK IFLA_INET_CONF: %w", err)
	}
	return nil
}

// checkIPv6Forwarding checks that IPv6 forwarding is on. It cannot be set
// from a container: there is no netlink path (the kernel only accepts the
// token and addr_gen_mode in IFLA_INET6_CONF) and /proc/sys is read-only
// (but readable). The kubelet sets it inside the pod's network namespace,
// before any container starts, from the pod's securityContext.sysctls —
// an unsafe sysctl, so only where the kubelet allows it.
func checkIPv6Forwarding() (Sysctl, error) {
	s := Sysctl{Key: podcontract.IPv6ForwardingSysctl, Value: "1", Method: MethodPodSysctl}
	got, err := readSysctl(s.Key)
	if err == nil && got == "1" {
		return s, nil
	}
	if err != nil {
		got = "unreadable (" + err.Error() + ")"
	}
	return s, fmt.Errorf("--vm-ipv6=true needs %s=1 in the pod's network namespace, but it is %s. "+
		"net-setup cannot set it (IPv6 forwarding has no netlink path and /proc/sys is read-only in a container): "+
		"the pod must set it in spec.securityContext.sysctls, as the operator renders it when started with --vm-ipv6, "+
		"and every kubelet must allow it with %s; or run the operator without --vm-ipv6 to give VMs IPv4 only",
		s.Key, got, podcontract.KubeletAllowIPv6ForwardingFlag)
}

func sysctlPath(key string) string {
	// Interface names may contain dots, so only the fixed prefix is split.
	parts := strings.SplitN(key, ".", 4)
	if len(parts) == 4 && parts[2] == "conf" {
		rest := parts[3]
		i := strings.LastIndex(rest, ".")
		return filepath.Join("/proc", "sys", parts[0], parts[1], "conf", rest[:i], rest[i+1:])
	}
	return filepath.Join("/proc", "sys", strings.ReplaceAll(key, ".", "/"))
}

func readSysctl(key string) (string, error) {
	b, err := os.ReadFile(sysctlPath(key))
	return strings.TrimSpace(string(b)), err
}

func writeSysctl(key, value string) error {
	err := os.WriteFile(sysctlPath(key), []byte(value), 0)
	if errors.Is(err, unix.EROFS) {
		return fmt.Errorf("%s is read-only (the container is not privileged): %w", sysctlPath(key), err)
	}
	return err
}
