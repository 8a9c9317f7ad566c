// Package vm proves that the compute launcher runs a real guest behind the
// real dataplane, with the same namespace world as test/dataplane but a real
// QEMU instead of a veth standing in for the guest:
//
//	client ns  192.0.2.10 (the caller), 10.244.1.1 the pod's gateway; routes
//	           to the upstream ns (198.51.100.20).
//	pod ns     eth0 10.244.1.5 plus everything `virt-launcher net-setup`
//	           creates (k6t-eth0, tap0 owned by uid 107, the mesh nat rules,
//	           and the tun node, in a temp dir standing in for the tun emptyDir,
//	           that tap0 is created and attached through: /dev/net is hidden
//	           from net-setup and compute, as in a container);
//	           the proxy stand-in runs as uid 1337; `virt-launcher compute`
//	           runs as uid 107 with only CAP_NET_BIND_SERVICE (for DHCP) and
//	           starts QEMU with tap0 as an inherited fd (-netdev tap,fd=N); `virt-launcher disk-helper` runs as uid
//	           1000 (the "user's image") and is the only one allowed to read
//	           the disk image file.
//
// The guest is hack/build-guest.sh's Debian kernel + busybox initramfs on a
// SYSLINUX-bootable FAT disk: it reads the NoCloud seed, gets its address
// from our DHCP server and runs the user-data script, which starts an HTTP
// server on 9080 (busybox httpd) with CGI scripts to call the upstream and
// to power off.
//
// Persistent disks: a temp dir prepared as the kubelet prepares a claim for
// fsGroup 107 stands in for a persistentVolumeClaim's mount; the guest
// counts its runs on the disk.img compute creates there, across a graceful
// stop and a second run (pvc_test.go).
//
// The proxy stand-in, namespace and process helpers are shared with
// test/dataplane in internal/testing/podnet; here the stand-in also answers
// POST /quitquitquit on 15020.
//
// Needs root, iproute2, iptables, qemu-system-x86 and qemu-utils, and
// bin/guest from hack/build-guest.sh; skips with the setup to run otherwise.
package vm
