package netsetup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// tunNodeMode is the tun node's permission: only QEMU's uid opens it.
// Opening tun grants nothing by itself (creating a tap needs CAP_NET_ADMIN,
// attaching needs to own it), but no other uid in the pod has a reason to.
const tunNodeMode = 0o600

// ensureTunNode creates the tun character device node (c 10:200) at path,
// owned by owner:owner with mode 0600, for the compute container: container
// runtimes do not put /dev/net/tun into containers, and a node in a shared
// emptyDir avoids a device plugin. It needs CAP_MKNOD (mknod) and CAP_CHOWN
// (a node made by root owned by another uid), and the runtime's device
// cgroup must allow c 10:200 (see docs/networking.md, Privileges).
//
// An existing node of the right type, numbers, owner and mode is kept, so
// a re-run does not disturb a QEMU that already opened it; anything else
// at path is replaced. The node is made under a temporary name and renamed
// into place, so compute never sees a half-set-up node.
func ensureTunNode(path string, owner int64) (created bool, err error) {
	want := unix.Mkdev(podcontract.TunDeviceMajor, podcontract.TunDeviceMinor)
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err == nil &&
		st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == want &&
		int64(st.Uid) == owner && int64(st.Gid) == owner && st.Mode&0o7777 == tunNodeMode {
		return false, nil
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("inspecting tun node %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("tun node directory: %w", err)
	}
	tmp := filepath.Join(dir, "."+filepath.Base(path)+".tmp")
	_ = os.Remove(tmp)
	if err := unix.Mknod(tmp, unix.S_IFCHR|tunNodeMode, int(want)); err != nil {
		return false, fmt.Errorf("mknod %s c %d %d (needs CAP_MKNOD): %w", tmp, podcontract.TunDeviceMajor, podcontract.TunDeviceMinor, err)
	}
	// mknod's mode is subject to the umask: set it exactly, while root
	// still owns the node (afterwards chmod would need CAP_FOWNER).
	if err := unix.Fchmodat(unix.AT_FDCWD, tmp, tunNodeMode, 0); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := os.Lchown(tmp, int(owner), int(owner)); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("chown %s to %d:%d (needs CAP_CHOWN): %w", tmp, owner, owner, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return false, fmt.Errorf("installing tun node %s: %w", path, err)
	}
	return true, nil
}

// hostTunDevice is the kernel's usual tun node, used when net-setup is not
// asked to make one (a host or a privileged container has it).
const hostTunDevice = "/dev/net/tun"

// openTun opens a tun descriptor for creating the tap. Without a
// configured node it opens /dev/net/tun. With one, it cannot open that node:
// it belongs to QEMU's uid with mode 0600 and net-setup has no
// CAP_DAC_OVERRIDE. It makes a private root-owned node next to it instead,
// opens it and unlinks it at once.
func openTun(configured string) (int, string, error) {
	if configured == "" {
		fd, err := unix.Open(hostTunDevice, unix.O_RDWR|unix.O_CLOEXEC, 0)
		return fd, hostTunDevice, err
	}
	path := filepath.Join(filepath.Dir(configured), ".net-setup-tun")
	_ = os.Remove(path)
	if err := unix.Mknod(path, unix.S_IFCHR|tunNodeMode, int(unix.Mkdev(podcontract.TunDeviceMajor, podcontract.TunDeviceMinor))); err != nil {
		return -1, path, fmt.Errorf("mknod (needs CAP_MKNOD): %w", err)
	}
	defer os.Remove(path)
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	return fd, path, err
}

// tapFlags are the tap's features: ethernet frames, no packet-info header,
// and the virtio-net header QEMU's virtio-net uses for offloads. The
// compute side attaches with the same flags (launcher.OpenTap): the kernel
// applies the attaching process's feature flags to the device.
const tapFlags = unix.IFF_TAP | unix.IFF_NO_PI | unix.IFF_VNET_HDR

// createTap creates the persistent tap name through a tun node (see
// openTun), owned by owner:owner, as `ip tuntap add` would. It does not
// use netlink.Tuntap because that opens /dev/net/tun by its fixed path.
// The kernel has no "no group" value for TUNSETGROUP; QEMU's image user has
// the same uid and gid (107:107).
func createTap(configured, name string, owner int64) error {
	fd, tunDevice, err := openTun(configured)
	if err != nil {
		return fmt.Errorf("creating tap %s: opening %s: %w", name, tunDevice, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return fmt.Errorf("creating tap %s: %w", name, err)
	}
	ifr.SetUint16(tapFlags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		return fmt.Errorf("creating tap %s: TUNSETIFF on %s: %w", name, tunDevice, err)
	}
	for _, c := range []struct {
		name     string
		req, arg uint
	}{
		{"TUNSETOWNER", unix.TUNSETOWNER, uint(owner)},
		{"TUNSETGROUP", unix.TUNSETGROUP, uint(owner)},
		{"TUNSETPERSIST", unix.TUNSETPERSIST, 1},
	} {
		if err := unix.IoctlSetInt(fd, c.req, int(c.arg)); err != nil {
			return fmt.Errorf("creating tap %s: %s: %w", name, c.name, err)
		}
	}
	return nil
}
