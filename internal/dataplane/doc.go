// Package dataplane is the single source of truth for a launcher pod's
// networking: the masquerade NAT that connects the VM behind k6t-eth0 to the
// pod, and the mesh redirection that sends the pod's traffic through the
// proxy. Both rule sets are rendered together, by pure functions, into one
// iptables nat table per address family, so that they can never disagree and
// the order of every jump in PREROUTING/OUTPUT/POSTROUTING is explicit.
//
// Nothing in this package executes commands or talks to the kernel; the
// netsetup package applies what is rendered here.
package dataplane
