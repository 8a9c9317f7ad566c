package podcontract

// LauncherBinary is the multi-call binary in the launcher image, found in its
// PATH (the image's entrypoint is not relied upon).
const LauncherBinary = "virt-launcher"

// Subcommands of LauncherBinary, one per job in the pod.
const (
	// SubcommandNetSetup is the net-setup init container: bridge, tap, tun
	// node and nat rules (package netsetup). Flags: NetSetupOptions.
	SubcommandNetSetup = "net-setup"
	// SubcommandCompute is the compute container: QEMU, DHCP and QMP
	// (package launcher). Flags: ComputeOptions.
	SubcommandCompute = "compute"
	// SubcommandComputeReady is compute's readinessProbe; it succeeds once
	// the guest is running (ReadinessProbeArgs).
	SubcommandComputeReady = "compute-ready"
	// SubcommandDiskHelper is each containerDisk volume container, run from
	// the copied helper binary. Flags: DiskHelperOptions.
	SubcommandDiskHelper = "disk-helper"
	// SubcommandDiskHelperInstall is the helper-install init container: it
	// copies the static binary to HelperBinaryPath (no cp or shell needed).
	SubcommandDiskHelperInstall = "disk-helper-install"
)

// Container names of the launcher pod.
const (
	ContainerCompute       = "compute"
	ContainerHelperInstall = "helper-install"
	ContainerNetSetup      = "net-setup"
	ContainerProxy         = "istio-proxy"
	// VolumeContainerPrefix + volume name is a containerDisk's container
	// (KubeVirt's naming).
	VolumeContainerPrefix = "volume"
)

// Uids the containers run as.
const (
	// QEMUUID is the uid (and gid) of compute, hence QEMU, and of the disk
	// helpers (KubeVirt's qemu user). net-setup creates tap0 and the tun
	// node owned by it so QEMU attaches without CAP_NET_ADMIN.
	QEMUUID = 107
	// ProxyUID is the mesh proxy's default uid and gid (Istio's 1337); its
	// own traffic is never captured.
	ProxyUID = 1337
)
