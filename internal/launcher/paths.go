// Package launcher runs the virtual machine a VirtualMachineInstance describes
// inside the virt-launcher pod's compute container: it builds the QEMU command
// line, talks QMP, and maps the guest's lifecycle onto the container's.
//
// This file holds the contract with the pod renderer (the VMI controller): the
// well-known paths, volume names and uid that the rendered pod and the
// launcher must agree on. The renderer imports these constants instead of
// copying them so the two sides cannot drift.
package launcher

import (
	"path/filepath"
)

const (
	// ComputeSubcommand is the virt-launcher subcommand the compute container runs.
	ComputeSubcommand = "compute"
	// NetSetupSubcommand is the virt-launcher subcommand the net-setup init
	// container runs: bridge, tap, tun node and nat rules (package netsetup).
	NetSetupSubcommand = "net-setup"
	// ComputeReadySubcommand is the subcommand the compute container's
	// readinessProbe execs; it succeeds once the guest is running.
	ComputeReadySubcommand = "compute-ready"
	// DiskHelperSubcommand is the subcommand each containerDisk volume
	// container runs (from the copied helper binary) to expose its image.
	DiskHelperSubcommand = "disk-helper"
	// DiskHelperInstallSubcommand is the subcommand the helper-install init
	// container runs: it copies the running (static) virt-launcher binary to
	// HelperBinaryPath, so no cp/shell is needed in the VirtMesh image.
	DiskHelperInstallSubcommand = "disk-helper-install"

	// VMIAnnotation is the pod annotation that carries the VMI object (JSON:
	// apiVersion, kind, metadata name/namespace/uid, spec) the pod was
	// rendered from. A downwardAPI volume projects it to VMIFile, so the
	// launcher never calls the API server.
	VMIAnnotation = "virtmesh.io/vmi"
	// VMIVolumeName is the downwardAPI volume that projects VMIAnnotation.
	VMIVolumeName = "virtmesh-vmi"
	// VMIMountPath is where VMIVolumeName is mounted (read-only) in compute.
	VMIMountPath = "/var/run/virtmesh/vmi"
	// VMIFileName is the downwardAPI item path inside VMIMountPath.
	VMIFileName = "vmi.json"

	// HelperVolumeName is the emptyDir the helper binary is copied into; it
	// is mounted in the init container (rw) and every volume container (ro).
	HelperVolumeName = "virtmesh-helper"
	// HelperMountPath is where HelperVolumeName is mounted.
	HelperMountPath = "/var/run/virtmesh/helper"
	// HelperBinaryName is the file name of the copied static binary.
	HelperBinaryName = "virt-launcher"

	// SocketsVolumeName is the emptyDir shared by compute and every volume
	// container: each disk helper listens on <volume>.sock in it and hands
	// the image's read-only file descriptor to compute over SCM_RIGHTS.
	SocketsVolumeName = "virtmesh-disk-sockets"
	// SocketsMountPath is where SocketsVolumeName is mounted.
	SocketsMountPath = "/var/run/virtmesh/disk-sockets"

	// RunVolumeName is compute's private scratch emptyDir: copy-on-write
	// overlays, the cloud-init seed, the QMP socket, the serial log and the
	// ready file live here.
	RunVolumeName = "virtmesh-run"
	// RunMountPath is where RunVolumeName is mounted in compute.
	RunMountPath = "/var/run/virtmesh/run"

	// TunVolumeName is the emptyDir net-setup creates the tun device node
	// in (rw there) and compute opens it from: container runtimes give no
	// container /dev/net/tun, and this avoids a device plugin.
	TunVolumeName = "virtmesh-tun"
	// TunMountPath is where TunVolumeName is mounted.
	TunMountPath = "/var/run/virtmesh/tun"
	// TunNodeName is the tun node's file name inside TunMountPath.
	TunNodeName = "tun"
	// HostTunDevice is the kernel's usual tun node; compute falls back to it
	// only when --tun-device is empty.
	HostTunDevice = "/dev/net/tun"

	// DefaultContainerDiskPath is where a containerDisk image keeps its disk
	// when the VMI names no path (KubeVirt's convention): a directory with
	// exactly one image file in it, or the file itself.
	DefaultContainerDiskPath = "/disk"

	// DefaultTerminationLog is the kubelet's default terminationMessagePath.
	DefaultTerminationLog = "/dev/termination-log"

	// DefaultProxyAdminAddr is the Istio-compatible sidecar's pilot-agent
	// address; POST /quitquitquit there stops the proxy so the pod completes.
	DefaultProxyAdminAddr = "127.0.0.1:15020"

	// QEMUUID is the uid (and gid) the compute container, hence QEMU, runs
	// as (KubeVirt's qemu user). net-setup must create tap0 owned by it
	// (dataplane TapOwnerUID) so QEMU can attach without CAP_NET_ADMIN.
	QEMUUID = 107

	// DefaultQEMUBinary is the QEMU system emulator in the VirtMesh image.
	DefaultQEMUBinary = "qemu-system-x86_64"
	// DefaultQEMUImgBinary creates the copy-on-write overlays.
	DefaultQEMUImgBinary = "qemu-img"
	// DefaultTap is the tap device net-setup creates for the VM.
	DefaultTap = "tap0"
	// DefaultBridge is the in-pod bridge net-setup creates; the launcher's
	// DHCP server answers the guest on it.
	DefaultBridge = "k6t-eth0"
)

// GracePeriodMarginSeconds is added to the VMI's grace period for the
// launcher pod's terminationGracePeriodSeconds (PodGracePeriodSeconds): the
// kubelet must not SIGKILL compute before the launcher's own hard stop,
// termination message and proxy quit have run.
const GracePeriodMarginSeconds = 15

// PodGracePeriodSeconds is the launcher pod's terminationGracePeriodSeconds
// for a VMI whose spec.terminationGracePeriodSeconds is vmiGrace.
func PodGracePeriodSeconds(vmiGrace int64) int64 { return vmiGrace + GracePeriodMarginSeconds }

// VMIFile is the full path of the VMI JSON inside compute.
var VMIFile = filepath.Join(VMIMountPath, VMIFileName)

// TunDevicePath is the tun node net-setup creates (dataplane TunDevice)
// and compute opens (ComputeOptions.TunDevice).
var TunDevicePath = filepath.Join(TunMountPath, TunNodeName)

// HelperBinaryPath is where the helper-install init container copies the
// static virt-launcher binary; volume containers exec it from there.
var HelperBinaryPath = filepath.Join(HelperMountPath, HelperBinaryName)

// DiskSocketPath is the unix socket the disk helper for volume listens on.
func DiskSocketPath(socketDir, volume string) string {
	return filepath.Join(socketDir, volume+".sock")
}

// Default files inside RunMountPath.
var (
	DefaultSerialLog = filepath.Join(RunMountPath, "serial.log")
	DefaultQMPSocket = filepath.Join(RunMountPath, "qmp.sock")
	DefaultReadyFile = filepath.Join(RunMountPath, "ready")
	DefaultDisksDir  = filepath.Join(RunMountPath, "disks")
)
