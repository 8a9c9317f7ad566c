// Package netsetup plumbs a launcher pod's network namespace for a VM: the
// k6t-eth0 bridge, the tap QEMU opens, the per-device sysctls forwarding
// needs, and the nat tables rendered by package dataplane.
//
// It runs in the net-setup init container, as root with CAP_NET_ADMIN and
// CAP_NET_RAW, plus CAP_MKNOD and CAP_CHOWN for the tun device node it
// makes for compute (the container runtime provides no /dev/net/tun). Everything is idempotent: the init container may be
// re-run by the kubelet at any time.
package netsetup
