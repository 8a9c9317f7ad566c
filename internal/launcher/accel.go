package launcher

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// kvmGetAPIVersion is the KVM_GET_API_VERSION ioctl; the stable KVM API
// answers 12.
const (
	kvmGetAPIVersion = 0xAE00
	kvmAPIVersion    = 12
)

// DefaultKVMDevice is the KVM device node.
const DefaultKVMDevice = "/dev/kvm"

// SysModuleDir is where the kernel lists its modules (read-only sysfs is
// mounted in containers too).
var SysModuleDir = "/sys/module"

// KVMUsable reports whether dev can be opened read-write, speaks the
// stable KVM API, and is backed by hardware-assisted virtualization — the
// checks are done here so the launcher can say why it fell back instead of
// QEMU failing.
func KVMUsable(dev string) error {
	if err := kvmDevice(dev); err != nil {
		return err
	}
	return kvmBackend(SysModuleDir)
}

// kvmBackend rejects a KVM whose backend is neither kvm_intel (VMX) nor
// kvm_amd (SVM). Some nested setups expose /dev/kvm through a software
// backend such as kvm_pvm, which answers the KVM API but runs only guests
// with kernels built for it: an ordinary guest then dies with "KVM internal
// error" in its boot loader. When sysfs shows no kvm module at all (not
// mounted), the device check alone decides.
func kvmBackend(sysModule string) error {
	for _, m := range []string{"kvm_intel", "kvm_amd"} {
		if _, err := os.Stat(filepath.Join(sysModule, m)); err == nil {
			return nil
		}
	}
	ents, err := os.ReadDir(sysModule)
	if err != nil {
		return nil
	}
	var others []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "kvm_") {
			others = append(others, e.Name())
		}
	}
	if len(others) == 0 {
		return nil
	}
	return fmt.Errorf("the host's KVM backend is %s, not hardware-assisted kvm_intel/kvm_amd: unmodified guests cannot run on it", strings.Join(others, ","))
}

func kvmDevice(dev string) error {
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
	case podcontract.AccelTCG:
		return podcontract.AccelTCG, "tcg (software emulation, requested by --accel=tcg)", nil
	case podcontract.AccelKVM:
		if err := KVMUsable(dev); err != nil {
			return "", "", fmt.Errorf("--accel=kvm but KVM is not usable: %w", err)
		}
		return podcontract.AccelKVM, "kvm (hardware virtualization via " + dev + ")", nil
	default:
		if err := KVMUsable(dev); err != nil {
			return podcontract.AccelTCG, "tcg (software emulation: KVM not usable: " + err.Error() + ")", nil
		}
		return podcontract.AccelKVM, "kvm (hardware virtualization via " + dev + ")", nil
	}
}
