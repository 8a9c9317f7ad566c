package netsetup

import "testing"

func TestSysctlPath(t *testing.T) {
	tests := []struct{ key, want string }{
		{"net.ipv4.conf.k6t-eth0.route_localnet", "/proc/sys/net/ipv4/conf/k6t-eth0/route_localnet"},
		// VLAN-style interface names contain dots.
		{"net.ipv4.conf.eth0.100.forwarding", "/proc/sys/net/ipv4/conf/eth0.100/forwarding"},
		{"net.ipv6.conf.all.forwarding", "/proc/sys/net/ipv6/conf/all/forwarding"},
		{"net.ipv4.ip_forward", "/proc/sys/net/ipv4/ip_forward"},
	}
	for _, tt := range tests {
		if got := sysctlPath(tt.key); got != tt.want {
			t.Errorf("sysctlPath(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}
