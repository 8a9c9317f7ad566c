package launcher

import "strconv"

// Machine is the fully resolved virtual hardware QEMU is started with:
// everything a VMI, the accelerator probe and the disk preparation decided,
// and nothing QEMU must still look up. QEMUArgs turns it into argv.
type Machine struct {
	// Name is shown by QEMU (process name, QMP query-name): <ns>_<name>.
	Name string
	// UUID is the SMBIOS system UUID (the VMI's uid); empty for none.
	UUID string
	// Accel is podcontract.AccelKVM or podcontract.AccelTCG.
	Accel string
	// Type is the QEMU machine type (q35 or a versioned pc-q35-X.Y).
	Type string
	// MachineOptions are appended to -machine: smm, hpet, pit.
	MachineOptions []string
	// CPUModel is -cpu's model; CPUFlags follow it (+feat, -feat, kvm=off).
	CPUModel                string
	CPUFlags                []string
	Sockets, Cores, Threads uint32
	MemoryMiB               int64
	// SMBIOS are -smbios values (system serial, chassis).
	SMBIOS []string
	// RTC is -rtc's value; empty for QEMU's default (UTC, no drift fix).
	RTC string
	// NoReboot ends QEMU when the guest reboots (rebootPolicy Terminate).
	NoReboot bool
	// Rng attaches virtio-rng fed from the host's /dev/urandom.
	Rng bool
	// Balloon attaches a virtio memory balloon.
	Balloon bool
	// Watchdog, when set, is the i6300esb watchdog's id and action.
	Watchdog *MachineWatchdog
	// FDs are descriptors QEMU inherits and registers as fd sets, so a
	// backing file named "/dev/fdset/<Set>" is read through them.
	FDs []MachineFD
	// Disks are attached as virtio-blk in this order.
	Disks []MachineDisk
	NICs  []MachineNIC
	// SerialLog is the file the first serial port writes to.
	SerialLog string
	// QMPSocket is the QMP server socket QEMU creates.
	QMPSocket string
}

// Disk buses.
const (
	BusVirtio = "virtio"
	BusSATA   = "sata"
	BusSCSI   = "scsi"
)

// MachineDisk is one disk.
type MachineDisk struct {
	// Name is the VMI disk name; device ids derive from it.
	Name string
	// Bus is BusVirtio, BusSATA or BusSCSI.
	Bus string
	// Path is the image QEMU opens: a qcow2 overlay for container disks, the
	// raw seed ISO for cloud-init.
	Path string
	// Format is "qcow2" or "raw".
	Format   string
	ReadOnly bool
	// BootIndex orders firmware boot; 0 leaves it unset.
	BootIndex int
	// Serial is the disk serial the guest sees; empty for none.
	Serial string
	// Cache is "", none, writethrough or writeback.
	Cache string
	// ErrorPolicy is "" (QEMU's default), stop, ignore, report or enospace.
	ErrorPolicy string
	// Queues is the virtio-blk queue count; 0 for QEMU's default.
	Queues uint32
}

// MachineNIC is one virtio-net interface backed by an existing tap device.
type MachineNIC struct {
	Name string
	// Tap names the tap (for logs and the network setup); QEMU does not
	// open it by name.
	Tap string
	// TapFD is the descriptor, already attached to Tap, that QEMU inherits
	// (3 + its ExtraFiles index).
	TapFD int
	MAC   string
	// Model is the QEMU NIC device (virtio-net-pci, e1000, ...).
	Model string
	// BootIndex orders network boot; 0 means the NIC does not boot and gets
	// no option ROM.
	BootIndex int
}

// MachineWatchdog is an i6300esb watchdog.
type MachineWatchdog struct {
	ID string
	// Action is QEMU's -action watchdog= value: reset, poweroff or shutdown.
	Action string
}

// VCPUs is the number of virtual CPUs of m.
func (m Machine) VCPUs() uint32 { return m.Sockets * m.Cores * m.Threads }

// MachineFD is an inherited descriptor registered with -add-fd.
type MachineFD struct {
	// FD is the descriptor number in QEMU's process (3 + ExtraFiles index).
	FD int
	// Set is the fd set id, as in "/dev/fdset/<Set>".
	Set int
	// Opaque names the descriptor in query-fdsets (the volume name).
	Opaque string
}

// FDSetPath is the path QEMU resolves to a descriptor of fd set set.
func FDSetPath(set int) string { return "/dev/fdset/" + strconv.Itoa(set) }
