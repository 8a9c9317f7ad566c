package podcontract

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

// ComputeOptions is the compute container's command-line contract. The
// renderer builds it, renders it with Args after SubcommandCompute, and the
// launcher parses it back with ParseComputeArgs.
type ComputeOptions struct {
	// VMNetwork is the same value net-setup got (NetSetupOptions.VMNetwork):
	// the DHCP server hands out exactly the addresses net-setup NATs.
	VMNetwork
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
	// pod with a (non-native) proxy sidecar completes when the VM stops.
	StopProxyOnExit bool
	// ProxyAdminAddr is the sidecar agent's host:port.
	ProxyAdminAddr string
	// Accel is AccelAuto, AccelKVM or AccelTCG.
	Accel string
	// QEMUBinary and QEMUImgBinary are looked up in PATH unless absolute.
	QEMUBinary    string
	QEMUImgBinary string
	// TunDevice is the tun node the launcher opens to attach to Tap; QEMU
	// gets the attached descriptor and never opens a tun node itself.
	// Empty: HostTunDevice.
	TunDevice string
	// DHCP turns the launcher's DHCP server on the bridge on.
	DHCP bool
	// PersistentDisks are the VMI's persistentVolumeClaim disks, one per
	// volume, with the size the operator resolved from each claim.
	PersistentDisks []PersistentDisk
}

// QEMU binaries in the launcher image.
const (
	DefaultQEMUBinary    = "qemu-system-x86_64"
	DefaultQEMUImgBinary = "qemu-img"
)

// DefaultComputeOptions returns the options a rendered pod uses unless the
// renderer overrides them; they match the well-known mount paths.
func DefaultComputeOptions() ComputeOptions {
	return ComputeOptions{
		VMNetwork:       DefaultVMNetwork(),
		VMIFile:         VMIFile,
		DisksDir:        DefaultDisksDir,
		HelperSocketDir: SocketsMountPath,
		SerialLog:       DefaultSerialLog,
		QMPSocket:       DefaultQMPSocket,
		ReadyFile:       DefaultReadyFile,
		TerminationLog:  DefaultTerminationLog,
		DiskWaitTimeout: 5 * time.Minute,
		ProxyAdminAddr:  DefaultProxyAdminAddr,
		Accel:           AccelAuto,
		QEMUBinary:      DefaultQEMUBinary,
		QEMUImgBinary:   DefaultQEMUImgBinary,
		TunDevice:       TunDevicePath,
		DHCP:            true,
	}
}

func (o *ComputeOptions) flags() []flagSpec {
	return append(o.VMNetwork.flags(),
		flagSpec{"vmi-file", "JSON VMI object the pod was rendered from", stringValue{&o.VMIFile}},
		flagSpec{"disks-dir", "directory for overlays and the cloud-init seed", stringValue{&o.DisksDir}},
		flagSpec{"helper-socket-dir", "shared directory with the disk helpers' sockets", stringValue{&o.HelperSocketDir}},
		flagSpec{"serial-log", "guest serial console log", stringValue{&o.SerialLog}},
		flagSpec{"qmp-socket", "QEMU QMP socket", stringValue{&o.QMPSocket}},
		flagSpec{"ready-file", "file that exists while the guest runs", stringValue{&o.ReadyFile}},
		flagSpec{"termination-log", "where the exit reason is written", stringValue{&o.TerminationLog}},
		flagSpec{"grace-period", "ACPI shutdown budget after SIGTERM (0: the VMI's)", durationValue{&o.GracePeriod}},
		flagSpec{"disk-wait-timeout", "how long to wait for container disks", durationValue{&o.DiskWaitTimeout}},
		flagSpec{"stop-proxy-on-exit", "POST /quitquitquit to the proxy agent on exit", boolValue{&o.StopProxyOnExit}},
		flagSpec{"proxy-admin-addr", "proxy agent host:port", stringValue{&o.ProxyAdminAddr}},
		flagSpec{"accel", "auto, kvm or tcg", stringValue{&o.Accel}},
		flagSpec{"qemu", "QEMU system emulator", stringValue{&o.QEMUBinary}},
		flagSpec{"qemu-img", "qemu-img binary", stringValue{&o.QEMUImgBinary}},
		flagSpec{"tun-device", "tun node to attach to the tap through (empty: " + HostTunDevice + ")", stringValue{&o.TunDevice}},
		flagSpec{"dhcp", "serve DHCP to the guest on the bridge", boolValue{&o.DHCP}},
		flagSpec{"persistent-disk", "a persistentVolumeClaim disk: volume=<name>,size=<bytes>,readOnly=<bool>,path=<disk.img> (repeatable)", persistentDiskList(&o.PersistentDisks)},
	)
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
	if err := parseFlags(SubcommandCompute, o.flags(), args); err != nil {
		return ComputeOptions{}, err
	}
	return o, o.Validate()
}

// Validate reports options the launcher cannot run with.
func (o ComputeOptions) Validate() error {
	switch o.Accel {
	case AccelAuto, AccelKVM, AccelTCG:
	default:
		return fmt.Errorf("%s: --accel=%q: want %s, %s or %s", SubcommandCompute, o.Accel, AccelAuto, AccelKVM, AccelTCG)
	}
	for _, f := range []struct{ name, value string }{
		{"vmi-file", o.VMIFile}, {"disks-dir", o.DisksDir}, {"qmp-socket", o.QMPSocket}, {"serial-log", o.SerialLog}, {"tap", o.Tap}, {"bridge", o.Bridge},
	} {
		if f.value == "" {
			return fmt.Errorf("%s: --%s must not be empty", SubcommandCompute, f.name)
		}
	}
	if o.GracePeriod < 0 || o.DiskWaitTimeout < 0 {
		return fmt.Errorf("%s: durations must not be negative", SubcommandCompute)
	}
	seen := map[string]bool{}
	for _, d := range o.PersistentDisks {
		if seen[d.Volume] {
			return fmt.Errorf("%s: --persistent-disk names volume %q twice", SubcommandCompute, d.Volume)
		}
		seen[d.Volume] = true
	}
	return nil
}

// ReadinessProbeArgs are compute's readinessProbe exec args after
// LauncherBinary: it succeeds while readyFile exists.
func ReadinessProbeArgs(readyFile string) []string {
	return []string{SubcommandComputeReady, "--ready-file=" + readyFile}
}
