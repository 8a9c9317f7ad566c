package launcher

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// kvmGetAPIVersion is the KVM_GET_API_VERSION ioctl; the stable KVM API
// answers 12.
const (
	kvmGetAPIVersion = 0xAE00
	kvmAPIVersion    = 12
)

// DefaultKVMDevice is the KVM device node.
const DefaultKVMDevice = "/dev/kvm"

// KVMUsable reports whether dev can be opened read-write and speaks the
// stable KVM API — the same check QEMU's -accel kvm makes first, done here
// so the launcher can say why it fell back instead of QEMU failing.
func KVMUsable(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	v, err := unix.IoctlRetInt(int(f.Fd()), kvmGetAPIVersion)
	if err != nil {
		return fmt.Errorf("%s: KVM_GET_API_VERSION: %w", dev, err)
	}
	if v != kvmAPIVersion {
		return fmt.Errorf("%s: KVM API version %d, want %d", dev, v, kvmAPIVersion)
	}
	return nil
}

// ChooseAccel resolves the --accel option: it returns the accelerator and
// a human sentence saying which one and why (for the log and the
// termination message).
func ChooseAccel(mode, dev string) (accel, why string, err error) {
	switch mode {
	case AccelTCG:
		return AccelTCG, "tcg (software emulation, requested by --accel=tcg)", nil
	case AccelKVM:
		if err := KVMUsable(dev); err != nil {
			return "", "", fmt.Errorf("--accel=kvm but KVM is not usable: %w", err)
		}
		return AccelKVM, "kvm (hardware virtualization via " + dev + ")", nil
	default:
		if err := KVMUsable(dev); err != nil {
			return AccelTCG, "tcg (software emulation: KVM not usable: " + err.Error() + ")", nil
		}
		return AccelKVM, "kvm (hardware virtualization via " + dev + ")", nil
	}
}
