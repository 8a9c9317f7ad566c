// Package dataplane proves the launcher pod's networking with real packets.
//
// Each test builds a small world out of network namespaces on this machine:
//
//	client ns  192.0.2.10 (the caller) and 10.244.1.1, the pod's gateway; it
//	           routes to the upstream ns (198.51.100.20) like a node would.
//	pod ns     eth0 10.244.1.5 plus everything `virt-launcher net-setup`
//	           creates: k6t-eth0, tap0, sysctls, both nat tables. The
//	           dhcp-server runs here as uid 107 with only NET_BIND_SERVICE,
//	           and the proxy stand-in as uid 1337.
//	vm ns      the guest. There is no QEMU, so a veth stands in for the tap:
//	           its pod end (vmport0) is enslaved to k6t-eth0 next to the
//	           real tap0 (which net-setup creates and the tests check but
//	           which nothing can send through without QEMU). The guest end
//	           is configured from what our DHCP server hands out.
//
// The tests need root and the `ip` (iproute2) and `iptables-restore`
// (iptables) commands; they fail otherwise, saying what to install.
package dataplane
