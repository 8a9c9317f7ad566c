package v1alpha1

// Devices attached to the VM.
type Devices struct {
	// disks of the VM in boot order, each backed by the volume of the same name.
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="disk names must be unique: rename or remove the duplicate disk"
	// +listType=atomic
	// +optional
	Disks []Disk `json:"disks,omitempty"`

	// interfaces of the VM, each connected to the network of the same name.
	// VirtMesh supports one interface, bound with masquerade; it is the
	// default, as in KubeVirt when a VMI names no networks and no interfaces.
	// +kubebuilder:default={{name: default, masquerade: {}}}
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="interface names must be unique: rename or remove the duplicate interface"
	// +kubebuilder:validation:XValidation:rule="self.size() <= 1",message="VirtMesh gives a VM one interface, on the pod network: remove the other interfaces"
	// +listType=atomic
	// +optional
	Interfaces []Interface `json:"interfaces,omitempty"`

	// autoattachPodInterface must stay true (KubeVirt's default): VirtMesh
	// needs the pod network.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self",message="VirtMesh needs the pod network: every VM is reached at its launcher pod's IP through it (and the mesh). Remove autoattachPodInterface: false"
	AutoattachPodInterface *bool `json:"autoattachPodInterface,omitempty"`

	// autoattachGraphicsDevice is accepted and ignored: VirtMesh VMs are
	// headless (serial console only), as with false in KubeVirt.
	// +optional
	AutoattachGraphicsDevice *bool `json:"autoattachGraphicsDevice,omitempty"`

	// autoattachSerialConsole is accepted and ignored: the serial console is
	// always attached; it is the compute container's log.
	// +optional
	AutoattachSerialConsole *bool `json:"autoattachSerialConsole,omitempty"`

	// logSerialConsole is accepted and ignored: the serial console is always
	// logged.
	// +optional
	LogSerialConsole *bool `json:"logSerialConsole,omitempty"`

	// autoattachMemBalloon attaches a virtio memory balloon (true by default,
	// as in KubeVirt); false leaves it out.
	// +optional
	AutoattachMemBalloon *bool `json:"autoattachMemBalloon,omitempty"`

	// autoattachInputDevice is accepted and ignored: there is no display to
	// point at.
	// +optional
	AutoattachInputDevice *bool `json:"autoattachInputDevice,omitempty"`

	// autoattachVSOCK is rejected when true.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self",message="autoattachVSOCK is not supported by VirtMesh: VSOCK needs /dev/vhost-vsock in the pod and a node-wide guest CID; remove it"
	AutoattachVSOCK *bool `json:"autoattachVSOCK,omitempty"`

	// rng attaches a virtio random number generator fed from the host's
	// /dev/urandom.
	// +optional
	Rng *Rng `json:"rng,omitempty"`

	// blockMultiQueue gives each virtio disk one queue per vCPU.
	// +optional
	BlockMultiQueue *bool `json:"blockMultiQueue,omitempty"`

	// networkInterfaceMultiqueue is accepted and ignored: the pod's tap is
	// created single-queue.
	// +optional
	NetworkInterfaceMultiqueue *bool `json:"networkInterfaceMultiqueue,omitempty"`

	// useVirtioTransitional is rejected when true.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self",message="useVirtioTransitional is not supported by VirtMesh: its guests need modern virtio drivers; remove it"
	UseVirtioTransitional *bool `json:"useVirtioTransitional,omitempty"`

	// disableHotplug is accepted and ignored: VirtMesh never hotplugs disks.
	// +optional
	DisableHotplug bool `json:"disableHotplug,omitempty"`

	// watchdog attaches an i6300esb watchdog whose expiry does the action.
	// +optional
	Watchdog *Watchdog `json:"watchdog,omitempty"`

	// inputs are accepted and ignored: a headless VM has no pointer or
	// keyboard to attach them to.
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	// +optional
	Inputs []Input `json:"inputs,omitempty"`

	// video is accepted and ignored: VirtMesh VMs are headless.
	// +optional
	Video *VideoDevice `json:"video,omitempty"`

	// gpus are KubeVirt's GPU passthrough. Not supported by VirtMesh: it needs
	// device plugins and VFIO.
	// +kubebuilder:validation:XValidation:rule="false",message="gpus are not supported by VirtMesh: GPU passthrough needs device plugins and VFIO"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	GPUs []Unsupported `json:"gpus,omitempty"`
	// hostDevices are KubeVirt's host device passthrough. Not supported by
	// VirtMesh: it needs device plugins and VFIO.
	// +kubebuilder:validation:XValidation:rule="false",message="hostDevices are not supported by VirtMesh: host device passthrough needs device plugins and VFIO"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	HostDevices []Unsupported `json:"hostDevices,omitempty"`
	// filesystems are KubeVirt's virtiofs shares. Not supported by VirtMesh
	// yet: they need a virtiofsd per share and shared guest memory.
	// +kubebuilder:validation:XValidation:rule="false",message="filesystems are not supported by VirtMesh yet: virtiofs needs a virtiofsd per share and shared guest memory"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Filesystems []Unsupported `json:"filesystems,omitempty"`
	// clientPassthrough is KubeVirt's USB redirection through virtctl. Not
	// supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="clientPassthrough is not supported by VirtMesh: USB redirection goes through KubeVirt's virtctl and node agent"
	// +optional
	ClientPassthrough *Unsupported `json:"clientPassthrough,omitempty"`
	// sound devices. Not supported by VirtMesh: VMs are headless.
	// +kubebuilder:validation:XValidation:rule="false",message="sound devices are not supported by VirtMesh: its VMs are headless"
	// +optional
	Sound *Unsupported `json:"sound,omitempty"`
	// tpm is KubeVirt's emulated TPM. Not supported by VirtMesh yet.
	// +kubebuilder:validation:XValidation:rule="false",message="tpm is not supported by VirtMesh yet: an emulated TPM needs swtpm in the launcher"
	// +optional
	TPM *Unsupported `json:"tpm,omitempty"`
	// panicDevices - Not supported by VirtMesh yet.
	// +kubebuilder:validation:XValidation:rule="false",message="panicDevices are not supported by VirtMesh yet"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	PanicDevices []Unsupported `json:"panicDevices,omitempty"`
	// downwardMetrics needs KubeVirt's node agent. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="downwardMetrics is not supported by VirtMesh: it needs KubeVirt's node agent"
	// +optional
	DownwardMetrics *Unsupported `json:"downwardMetrics,omitempty"`
}

// Rng is a virtio random number generator. It has no fields.
type Rng struct{}

// Disk is a block device of the VM.
type Disk struct {
	// name of the disk; a volume with the same name backs it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name,omitempty"`

	// disk attaches the volume as a disk. Without a bus (or without disk: at
	// all) the bus is virtio; note that KubeVirt's amd64 default is sata.
	// +optional
	Disk *DiskTarget `json:"disk,omitempty"`

	// bootOrder of the disk; lower boots first.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint32 `json:"bootOrder,omitempty"`

	// serial number the guest sees.
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.+-]+$`
	// +optional
	Serial string `json:"serial,omitempty"`

	// cache mode: none (O_DIRECT), writethrough or writeback. Defaults to the
	// launcher's: writeback for the copy-on-write overlays on the pod's
	// emptyDir, where O_DIRECT may not work.
	// +kubebuilder:validation:Enum=none;writethrough;writeback
	// +optional
	Cache string `json:"cache,omitempty"`

	// errorPolicy on I/O errors: stop (the default), ignore, report or
	// enospace (stop only when the disk is full).
	// +kubebuilder:validation:Enum=stop;ignore;report;enospace
	// +optional
	ErrorPolicy string `json:"errorPolicy,omitempty"`

	// io mode is accepted and ignored: VirtMesh uses QEMU's thread pool.
	// +kubebuilder:validation:Enum=threads;native
	// +optional
	IO string `json:"io,omitempty"`

	// dedicatedIOThread is accepted and ignored (a performance setting).
	// +optional
	DedicatedIOThread *bool `json:"dedicatedIOThread,omitempty"`

	// tag is accepted and ignored: it is published through a config drive,
	// which VirtMesh does not build.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Tag string `json:"tag,omitempty"`

	// shareable is rejected when true.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self",message="shareable disks are not supported by VirtMesh: a VM's disks belong to its run; remove shareable: true"
	Shareable *bool `json:"shareable,omitempty"`

	// cdrom is KubeVirt's cdrom target. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="cdrom disks are not supported by VirtMesh: attach the volume with disk: {} (readonly: true for a read-only disk)"
	// +optional
	CDRom *Unsupported `json:"cdrom,omitempty"`

	// lun is KubeVirt's lun target. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="lun disks are not supported by VirtMesh: SCSI passthrough needs block devices; use disk: {}"
	// +optional
	LUN *Unsupported `json:"lun,omitempty"`

	// blockSize is KubeVirt's custom block size. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="blockSize is not supported by VirtMesh: disks have QEMU's block sizes; remove it"
	// +optional
	BlockSize *Unsupported `json:"blockSize,omitempty"`

	// changedBlockTracking is KubeVirt's incremental backup support. Not
	// supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="changedBlockTracking is not supported by VirtMesh: it serves KubeVirt's incremental backups; remove it"
	// +optional
	ChangedBlockTracking *bool `json:"changedBlockTracking,omitempty"`
}

// DiskTarget attaches a volume as a disk.
// +kubebuilder:validation:XValidation:rule="!(has(self.bus) && self.bus == 'sata' && has(self.readonly) && self.readonly)",message="a sata disk cannot be read-only (QEMU's IDE disks have no write protection): use bus virtio or scsi for a read-only disk"
type DiskTarget struct {
	// bus of the disk: virtio (the default), sata (on the q35 AHCI
	// controller) or scsi (on a virtio-scsi controller).
	// +kubebuilder:validation:XValidation:rule="self in ['virtio', 'sata', 'scsi']",message="VirtMesh attaches disks on the virtio, sata or scsi bus: set bus to one of them (usb is not supported)"
	// +optional
	Bus DiskBus `json:"bus,omitempty"`

	// readonly attaches the disk read-only.
	// +optional
	ReadOnly bool `json:"readonly,omitempty"`

	// pciAddress is rejected.
	// +optional
	// +kubebuilder:validation:XValidation:rule="false",message="pciAddress is not supported by VirtMesh: disks get QEMU's addresses; remove it"
	PCIAddress string `json:"pciAddress,omitempty"`
}

// DiskBus names the bus a disk is attached to.
type DiskBus string

// Watchdog is a watchdog device.
type Watchdog struct {
	// name of the watchdog.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name,omitempty"`
	// i6300esb is the Intel 6300ESB watchdog, the amd64 one.
	// +optional
	I6300ESB *I6300ESBWatchdog `json:"i6300esb,omitempty"`
	// diag288 is the s390x watchdog: rejected.
	// +kubebuilder:validation:XValidation:rule="false",message="the diag288 watchdog is for s390x guests; VirtMesh runs amd64: use i6300esb"
	// +optional
	Diag288 *Unsupported `json:"diag288,omitempty"`
}

// I6300ESBWatchdog is the i6300esb watchdog.
type I6300ESBWatchdog struct {
	// action when the watchdog fires: reset (the default), poweroff or
	// shutdown (an ACPI power-down request).
	// +kubebuilder:validation:Enum=poweroff;reset;shutdown
	// +optional
	Action string `json:"action,omitempty"`
}

// Input is an input device; accepted and ignored (headless VMs).
type Input struct {
	// name of the device.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +required
	Name string `json:"name,omitempty"`
	// bus - usb or virtio.
	// +kubebuilder:validation:Enum=usb;virtio
	// +optional
	Bus string `json:"bus,omitempty"`
	// type - tablet or keyboard.
	// +kubebuilder:validation:Enum=tablet;keyboard
	// +required
	Type string `json:"type,omitempty"`
}

// VideoDevice is the guest's graphics adapter; accepted and ignored.
type VideoDevice struct {
	// type of the adapter, e.g. vga, bochs, virtio, ramfb.
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Type string `json:"type,omitempty"`
}
