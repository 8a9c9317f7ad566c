package podcontract

import "path/filepath"

// VMIAnnotation is the pod annotation that carries the VMI (JSON: apiVersion,
// kind, metadata name/namespace/uid, spec) the pod was rendered from. A
// downwardAPI volume projects it to VMIFile, so the launcher never calls the
// API server.
const VMIAnnotation = "virtmesh.io/vmi"

// Volumes of the launcher pod and where they are mounted.
const (
	// VMIVolumeName is the downwardAPI volume that projects VMIAnnotation,
	// mounted read-only in compute at VMIMountPath.
	VMIVolumeName = "virtmesh-vmi"
	VMIMountPath  = "/var/run/virtmesh/vmi"
	// VMIFileName is the downwardAPI item path inside VMIMountPath.
	VMIFileName = "vmi.json"

	// HelperVolumeName is the emptyDir the helper binary is copied into: rw
	// in helper-install, ro in every volume container.
	HelperVolumeName = "virtmesh-helper"
	HelperMountPath  = "/var/run/virtmesh/helper"
	// HelperBinaryName is the file name of the copied static binary.
	HelperBinaryName = "virt-launcher"

	// SocketsVolumeName is the emptyDir shared by compute and every volume
	// container: each disk helper listens on <volume>.sock in it and hands
	// the image's read-only descriptor to compute over SCM_RIGHTS.
	SocketsVolumeName = "virtmesh-disk-sockets"
	SocketsMountPath  = "/var/run/virtmesh/disk-sockets"

	// RunVolumeName is compute's private scratch emptyDir: overlays, the
	// cloud-init seed, the QMP socket, the serial log and the ready file.
	RunVolumeName = "virtmesh-run"
	RunMountPath  = "/var/run/virtmesh/run"

	// TunVolumeName is the emptyDir net-setup creates the tun node in (rw
	// there) and compute opens it from (ro): container runtimes give no
	// container /dev/net/tun, and this avoids a device plugin.
	TunVolumeName = "virtmesh-tun"
	TunMountPath  = "/var/run/virtmesh/tun"
	// TunNodeName is the tun node's file name inside TunMountPath.
	TunNodeName = "tun"
	// HostTunDevice is the kernel's usual tun node; compute falls back to it
	// only when its --tun-device is empty.
	HostTunDevice = "/dev/net/tun"

	// DefaultContainerDiskPath is where a containerDisk image keeps its disk
	// when the VMI names no path (KubeVirt's convention): a directory with
	// exactly one image file in it, or the file itself.
	DefaultContainerDiskPath = "/disk"

	// DefaultTerminationLog is the kubelet's default terminationMessagePath.
	DefaultTerminationLog = "/dev/termination-log"
)

// Paths derived from the mounts above.
var (
	// VMIFile is the VMI JSON inside compute.
	VMIFile = filepath.Join(VMIMountPath, VMIFileName)
	// TunDevicePath is the tun node net-setup creates and compute opens.
	TunDevicePath = filepath.Join(TunMountPath, TunNodeName)
	// HelperBinaryPath is where helper-install copies the static binary;
	// volume containers exec it from there.
	HelperBinaryPath = filepath.Join(HelperMountPath, HelperBinaryName)

	// Files in compute's run directory.
	DefaultSerialLog = filepath.Join(RunMountPath, "serial.log")
	DefaultQMPSocket = filepath.Join(RunMountPath, "qmp.sock")
	DefaultReadyFile = filepath.Join(RunMountPath, "ready")
	DefaultDisksDir  = filepath.Join(RunMountPath, "disks")
)

// DiskSocketPath is the unix socket the disk helper for volume listens on.
func DiskSocketPath(socketDir, volume string) string {
	return filepath.Join(socketDir, volume+".sock")
}
