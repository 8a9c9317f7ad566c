package launcher

import (
	"fmt"
	"time"
)

// Accelerator choices for ComputeOptions.Accel.
const (
	AccelAuto = "auto" // KVM when /dev/kvm is usable, otherwise TCG
	AccelKVM  = "kvm"  // KVM or fail
	AccelTCG  = "tcg"  // software emulation
)

// ComputeOptions is the compute container's command-line contract. The VMI
// controller builds it, renders it with Args into the container's args
// (after ComputeSubcommand), and the launcher parses it back with
// ParseComputeArgs.
type ComputeOptions struct {
	// VMIFile is the JSON VMI object the pod was rendered from.
	VMIFile string
	// DisksDir is where copy-on-write overlays and the cloud-init seed are
	// written (inside compute's private emptyDir).
	DisksDir string
	// HelperSocketDir is the shared emptyDir where every disk helper
	// listens on DiskSocketPath(HelperSocketDir, volume).
	HelperSocketDir string
	// SerialLog receives the guest's serial console; compute prints it.
	SerialLog string
	// QMPSocket is QEMU's QMP control socket.
	QMPSocket string
	// ReadyFile exists while the guest runs; the readiness probe checks it.
	ReadyFile string
	// TerminationLog gets the one-line reason the launcher exited.
	TerminationLog string
	// GracePeriod bounds the ACPI shutdown after SIGTERM before QEMU is
	// killed. Zero means the VMI's terminationGracePeriodSeconds.
	GracePeriod time.Duration
	// DiskWaitTimeout bounds the wait for every container disk's helper.
	DiskWaitTimeout time.Duration
	// StopProxyOnExit posts /quitquitquit to ProxyAdminAddr on exit so a
	// pod with a proxy sidecar completes when the VM stops.
	StopProxyOnExit bool
	// ProxyAdminAddr is the sidecar agent's host:port.
	ProxyAdminAddr string
	// Accel is AccelAuto, AccelKVM or AccelTCG.
	Accel string
	// QEMUBinary and QEMUImgBinary are looked up in PATH unless absolute.
	QEMUBinary    string
	QEMUImgBinary string
	// Tap is the tap device QEMU attaches virtio-net to.
	Tap string
	// TunDevice is the tun node the launcher opens to attach to Tap; QEMU
	// gets the attached descriptor and never opens a tun node itself.
	// Empty: HostTunDevice.
	TunDevice string
	// Bridge is where the launcher's DHCP server answers the guest.
	Bridge string
	// DHCP turns the launcher's DHCP server on.
	DHCP bool
}

// DefaultComputeOptions returns the options a rendered pod uses unless the
// renderer overrides them; they match the well-known mount paths.
func DefaultComputeOptions() ComputeOptions {
	return ComputeOptions{
		VMIFile:         VMIFile,
		DisksDir:        DefaultDisksDir,
		HelperSocketDir: SocketsMountPath,
		SerialLog:       DefaultSerialLog,
		QMPSocket:       DefaultQMPSocket,
		ReadyFile:       DefaultReadyFile,
		TerminationLog:  DefaultTerminationLog,
		DiskWaitTimeout: 5 * time.Minute,
		StopProxyOnExit: false,
		ProxyAdminAddr:  DefaultProxyAdminAddr,
		Accel:           AccelAuto,
		QEMUBinary:      DefaultQEMUBinary,
		QEMUImgBinary:   DefaultQEMUImgBinary,
		Tap:             DefaultTap,
		TunDevice:       TunDevicePath,
		Bridge:          DefaultBridge,
		DHCP:            true,
	}
}

func (o *ComputeOptions) flags() []flagSpec {
	return []flagSpec{
		{name: "vmi-file", str: &o.VMIFile, usage: "JSON VMI object the pod was rendered from"},
		{name: "disks-dir", str: &o.DisksDir, usage: "directory for overlays and the cloud-init seed"},
		{name: "helper-socket-dir", str: &o.HelperSocketDir, usage: "shared directory with the disk helpers' sockets"},
		{name: "serial-log", str: &o.SerialLog, usage: "guest serial console log"},
		{name: "qmp-socket", str: &o.QMPSocket, usage: "QEMU QMP socket"},
		{name: "ready-file", str: &o.ReadyFile, usage: "file that exists while the guest runs"},
		{name: "termination-log", str: &o.TerminationLog, usage: "where the exit reason is written"},
		{name: "grace-period", dur: &o.GracePeriod, usage: "ACPI shutdown budget after SIGTERM (0: the VMI's)"},
		{name: "disk-wait-timeout", dur: &o.DiskWaitTimeout, usage: "how long to wait for container disks"},
		{name: "stop-proxy-on-exit", bool: &o.StopProxyOnExit, usage: "POST /quitquitquit to the proxy agent on exit"},
		{name: "proxy-admin-addr", str: &o.ProxyAdminAddr, usage: "proxy agent host:port"},
		{name: "accel", str: &o.Accel, usage: "auto, kvm or tcg"},
		{name: "qemu", str: &o.QEMUBinary, usage: "QEMU system emulator"},
		{name: "qemu-img", str: &o.QEMUImgBinary, usage: "qemu-img binary"},
		{name: "tap", str: &o.Tap, usage: "tap device for the VM's interface"},
		{name: "tun-device", str: &o.TunDevice, usage: "tun node to attach to the tap through (empty: " + HostTunDevice + ")"},
		{name: "bridge", str: &o.Bridge, usage: "bridge the DHCP server listens on"},
		{name: "dhcp", bool: &o.DHCP, usage: "serve DHCP to the guest on the bridge"},
	}
}

// Args renders o as the compute subcommand's arguments (every flag, in a
// fixed order). ParseComputeArgs(o.Args()) returns o.
func (o ComputeOptions) Args() []string {
	return renderFlags(o.flags())
}

// ParseComputeArgs parses the compute subcommand's arguments; absent flags
// take DefaultComputeOptions' values.
func ParseComputeArgs(args []string) (ComputeOptions, error) {
	o := DefaultComputeOptions()
	if err := parseFlags(ComputeSubcommand, o.flags(), args); err != nil {
		return ComputeOptions{}, err
	}
	return o, o.Validate()
}

// Validate reports options the launcher cannot run with.
func (o ComputeOptions) Validate() error {
	switch o.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		return fmt.Errorf("compute: --accel=%q: want %s, %s or %s", o.Accel, AccelAuto, AccelKVM, AccelTCG)
	}
	for name, v := range map[string]string{"vmi-file": o.VMIFile, "disks-dir": o.DisksDir, "qmp-socket": o.QMPSocket, "serial-log": o.SerialLog, "tap": o.Tap} {
		if v == "" {
			return fmt.Errorf("compute: --%s must not be empty", name)
		}
	}
	if o.GracePeriod < 0 || o.DiskWaitTimeout < 0 {
		return fmt.Errorf("compute: durations must not be negative")
	}
	return nil
}

// DiskHelperOptions is a containerDisk volume container's contract: it runs
// HelperBinaryPath DiskHelperSubcommand with these args inside the user's
// image.
type DiskHelperOptions struct {
	// DiskPath is the image file, or a directory holding exactly one.
	DiskPath string
	// Socket is where the helper listens (DiskSocketPath).
	Socket string
	// TerminationLog gets the reason when the disk is missing/unreadable.
	TerminationLog string
}

// DefaultDiskHelperOptions returns the helper's defaults; Socket has none
// because it depends on the volume name.
func DefaultDiskHelperOptions() DiskHelperOptions {
	return DiskHelperOptions{DiskPath: DefaultContainerDiskPath, TerminationLog: DefaultTerminationLog}
}

func (o *DiskHelperOptions) flags() []flagSpec {
	return []flagSpec{
		{name: "disk", str: &o.DiskPath, usage: "disk image (or directory with one) inside the container image"},
		{name: "socket", str: &o.Socket, usage: "unix socket to hand the disk's fd out on"},
		{name: "termination-log", str: &o.TerminationLog, usage: "where the failure reason is written"},
	}
}

// Args renders o as the disk-helper subcommand's arguments.
func (o DiskHelperOptions) Args() []string { return renderFlags(o.flags()) }

// ParseDiskHelperArgs is the exact inverse of DiskHelperOptions.Args.
func ParseDiskHelperArgs(args []string) (DiskHelperOptions, error) {
	o := DefaultDiskHelperOptions()
	if err := parseFlags(DiskHelperSubcommand, o.flags(), args); err != nil {
		return DiskHelperOptions{}, err
	}
	if o.DiskPath == "" || o.Socket == "" {
		return DiskHelperOptions{}, fmt.Errorf("%s: --disk and --socket are required", DiskHelperSubcommand)
	}
	return o, nil
}

// DiskHelperCommand is the full command of volume's container: the copied
// helper binary, the subcommand and its args. diskPath is the VMI's
// containerDisk.path ("" for DefaultContainerDiskPath).
func DiskHelperCommand(volume, diskPath string) []string {
	o := DefaultDiskHelperOptions()
	if diskPath != "" {
		o.DiskPath = diskPath
	}
	o.Socket = DiskSocketPath(SocketsMountPath, volume)
	return append([]string{HelperBinaryPath, DiskHelperSubcommand}, o.Args()...)
}

// DiskHelperInstallArgs are the helper-install init container's args (after
// the virt-launcher binary): copy itself to HelperBinaryPath.
func DiskHelperInstallArgs() []string {
	return []string{DiskHelperInstallSubcommand, "--dest=" + HelperBinaryPath}
}

// ReadinessProbeArgs are the compute readinessProbe's exec args after the
// virt-launcher binary: it succeeds while readyFile exists.
func ReadinessProbeArgs(readyFile string) []string {
	return []string{ComputeReadySubcommand, "--ready-file=" + readyFile}
}
