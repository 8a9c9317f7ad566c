// Package dhcp serves the guest behind k6t-eth0 its one address: DHCPv4
// (address, router, DNS, search domains, hostname, MTU, infinite lease) and,
// when the pod has IPv6, a DHCPv6 address. It runs in the compute
// container, which needs only CAP_NET_BIND_SERVICE for ports 67 and 547.
//
// Packets are encoded and decoded by github.com/insomniacslk/dhcp; this
// package only decides what to answer.
package dhcp
