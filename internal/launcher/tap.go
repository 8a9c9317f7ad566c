package launcher

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// TapFlags are the flags the launcher attaches to the tap with: ethernet
// frames, no packet-info header, and the virtio-net header. They match what
// net-setup created the tap with and what QEMU itself asks for when it
// opens a tap by name (IFF_VNET_HDR when the kernel supports it); the
// kernel applies the attaching descriptor's feature flags to the device,
// and QEMU, given fd=, probes the header with TUNGETIFF and uses it.
const TapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR

// OpenTap opens the tun node tunDevice (podcontract.HostTunDevice when empty) and
// attaches the descriptor to the existing persistent tap name with
// TUNSETIFF. The caller hands the file to QEMU (-netdev tap,fd=N), so QEMU
// needs neither a tun node nor CAP_NET_ADMIN: attaching to a tap owned by
// our uid is allowed without privilege.
//
// The node is opened with unix.Open and wrapped with os.NewFile, not
// os.OpenFile, so Go's poller never switches the shared file description
// to non-blocking mode behind QEMU's back.
func OpenTap(tunDevice, name string) (*os.File, error) {
	if tunDevice == "" {
		tunDevice = podcontract.HostTunDevice
	}
	fd, err := unix.Open(tunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		hint := ""
		if errors.Is(err, unix.ENOENT) {
			hint = " (net-setup creates it with --tun-device; is the tun volume mounted?)"
		} else if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
			hint = " (the node must be owned by this uid, on a mount without nodev, and the device cgroup must allow c 10:200)"
		}
		return nil, fmt.Errorf("opening tun node %s%s: %w", tunDevice, hint, err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap %s: %w", name, err)
	}
	ifr.SetUint16(TapFlags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		hint := ""
		if errors.Is(err, unix.EPERM) {
			hint = fmt.Sprintf(" (the tap must exist and be owned by uid %d; did net-setup run?)", os.Geteuid())
		}
		return nil, fmt.Errorf("attaching to tap %s through %s%s: %w", name, tunDevice, hint, err)
	}
	return os.NewFile(uintptr(fd), tunDevice), nil
}
