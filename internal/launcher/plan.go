package launcher

import (
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/google/uuid"
	"k8s.io/apimachinery/pkg/api/resource"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// PreparedDisk is a volume made ready for QEMU: the path it opens.
type PreparedDisk struct {
	// FD, when set, is the backing image's descriptor QEMU must inherit.
	FD       *MachineFD
	Path     string
	Format   string
	ReadOnly bool
	// ReadOnlyStorage: the image cannot be opened for writing at all (a
	// read-only claim), so unlike the launcher's own read-only files (the
	// cloud-init seed) it cannot become a writable sata disk.
	ReadOnlyStorage bool
}

// PlanInput is what the launcher learnt at run time and BuildMachine needs
// besides the VMI.
type PlanInput struct {
	Accel     string
	Disks     map[string]PreparedDisk // by volume name
	SerialLog string
	QMPSocket string
	Tap       string
	// TapFD is the descriptor number, in QEMU's process, of the tap the
	// launcher attached to (see OpenTap). Required when the VMI has an
	// interface: QEMU never opens a tun node itself.
	TapFD int
	// Now is the start time, for a guest clock with an offset or a time
	// zone (QEMU's -rtc base= takes an absolute time).
	Now time.Time
}

// defaultMemoryMiB is used when the VMI sets no memory at all (admission
// prevents that).
const defaultMemoryMiB = 128

// BuildMachine maps a VMI to the machine QEMU runs. It is pure: the golden
// tests feed it VMI fixtures. Disks keep the VMI's order, followed by the
// volumes no disk names (attached as virtio disks, as KubeVirt does); a disk
// whose volume was not prepared is an error.
func BuildMachine(v *VMI, in PlanInput) (Machine, error) {
	d := &v.Spec.Domain
	m := Machine{
		Name:      v.Metadata.Namespace + "_" + v.Metadata.Name,
		Accel:     in.Accel,
		Type:      "q35",
		Sockets:   1,
		Cores:     1,
		Threads:   1,
		SerialLog: in.SerialLog,
		QMPSocket: in.QMPSocket,
		NoReboot:  d.RebootPolicy == "Terminate",
		Rng:       d.Devices.Rng != nil,
		// KubeVirt attaches the balloon unless told not to.
		Balloon: d.Devices.AutoattachMemBalloon == nil || *d.Devices.AutoattachMemBalloon,
	}
	if v.Metadata.Namespace == "" {
		m.Name = v.Metadata.Name
	}
	if _, err := uuid.Parse(v.Metadata.UID); err == nil {
		m.UUID = v.Metadata.UID
	}
	if d.Machine != nil && d.Machine.Type != "" {
		m.Type = d.Machine.Type
	}
	if err := planCPU(&m, d); err != nil {
		return Machine{}, err
	}
	mem, err := memoryMiB(&v.Spec)
	if err != nil {
		return Machine{}, err
	}
	m.MemoryMiB = mem
	planPlatform(&m, d)
	rtc, err := rtcBase(d.Clock, in.Now)
	if err != nil {
		return Machine{}, err
	}
	m.RTC = rtc
	if w := d.Devices.Watchdog; w != nil {
		action := "reset"
		if w.I6300ESB != nil && w.I6300ESB.Action != "" {
			action = w.I6300ESB.Action
		}
		m.Watchdog = &MachineWatchdog{ID: "wd-" + w.Name, Action: action}
	}
	if err := planDisks(&m, v, in); err != nil {
		return Machine{}, err
	}
	if err := planNICs(&m, v, in); err != nil {
		return Machine{}, err
	}
	return m, nil
}

// planCPU sets the topology and the model: host-model and host-passthrough
// (KubeVirt's default is host-model) become the host's CPU under KVM and
// QEMU's max model under TCG, the nearest equivalents without libvirt's
// model expansion; any other model is QEMU's model of that name.
func planCPU(m *Machine, d *VMIDomain) error {
	m.CPUModel = "max"
	if m.Accel == podcontract.AccelKVM {
		m.CPUModel = "host"
	}
	c := d.CPU
	if c == nil {
		return nil
	}
	m.Sockets, m.Cores, m.Threads = orOne(c.Sockets), orOne(c.Cores), orOne(c.Threads)
	switch c.Model {
	case "", "host-model", "host-passthrough":
	default:
		m.CPUModel = c.Model
	}
	for _, f := range c.Features {
		switch f.Policy {
		case "", "require", "force", "optional":
			m.CPUFlags = append(m.CPUFlags, "+"+f.Name)
		case "disable", "forbid":
			m.CPUFlags = append(m.CPUFlags, "-"+f.Name)
		default:
			return fmt.Errorf("cpu feature %q: policy %q is not one of force, require, optional, disable, forbid", f.Name, f.Policy)
		}
	}
	return nil
}

// planPlatform sets the machine options, KVM's visibility and SMBIOS.
func planPlatform(m *Machine, d *VMIDomain) {
	if f := d.Features; f != nil {
		if f.SMM != nil {
			m.MachineOptions = append(m.MachineOptions, "smm="+onOff(f.SMM.Enabled == nil || *f.SMM.Enabled))
		}
		if f.KVM != nil && f.KVM.Hidden {
			m.CPUFlags = append(m.CPUFlags, "kvm=off")
		}
	}
	if c := d.Clock; c != nil && c.Timer != nil {
		if t := c.Timer.HPET; t != nil && t.Present != nil && !*t.Present {
			m.MachineOptions = append(m.MachineOptions, "hpet=off")
		}
		if t := c.Timer.PIT; t != nil && t.Present != nil && !*t.Present {
			m.MachineOptions = append(m.MachineOptions, "pit=off")
		}
	}
	if fw := d.Firmware; fw != nil {
		if _, err := uuid.Parse(fw.UUID); err == nil {
			m.UUID = fw.UUID
		}
		if fw.Serial != "" {
			m.SMBIOS = append(m.SMBIOS, "type=1,serial="+esc(fw.Serial))
		}
	}
	if c := d.Chassis; c != nil {
		var kv []string
		for _, f := range []struct{ k, v string }{{"manufacturer", c.Manufacturer}, {"version", c.Version}, {"serial", c.Serial}, {"asset", c.Asset}, {"sku", c.Sku}} {
			if f.v != "" {
				kv = append(kv, f.k+"="+esc(f.v))
			}
		}
		if len(kv) > 0 {
			m.SMBIOS = append(m.SMBIOS, "type=3,"+strings.Join(kv, ","))
		}
	}
}

// rtcBase is -rtc's value for the clock: an absolute start time for an
// offset from UTC or a time zone, the drift fix and the clock it tracks.
func rtcBase(c *VMIClock, now time.Time) (string, error) {
	if c == nil {
		return "", nil
	}
	var parts []string
	const layout = "2006-01-02T15:04:05"
	switch {
	case c.UTC != nil && c.UTC.OffsetSeconds != nil && *c.UTC.OffsetSeconds != 0:
		parts = append(parts, "base="+now.UTC().Add(time.Duration(*c.UTC.OffsetSeconds)*time.Second).Format(layout))
	case c.Timezone != "":
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return "", fmt.Errorf("clock.timezone %q: %w", c.Timezone, err)
		}
		parts = append(parts, "base="+now.In(loc).Format(layout))
	}
	if t := c.Timer; t != nil && t.RTC != nil {
		if t.RTC.Track == "wall" {
			parts = append(parts, "clock=host")
		}
		if t.RTC.TickPolicy == "catchup" {
			parts = append(parts, "driftfix=slew")
		}
	}
	return strings.Join(parts, ","), nil
}

// diskBus returns the disk's bus, virtio unless it names one.
func diskBus(d VMIDisk) string {
	if d.Disk != nil && d.Disk.Bus != "" {
		return d.Disk.Bus
	}
	return BusVirtio
}

// planDisks attaches the listed disks, then the volumes no disk names.
func planDisks(m *Machine, v *VMI, in PlanInput) error {
	disks := append([]VMIDisk{}, v.Spec.Domain.Devices.Disks...)
	named := map[string]bool{}
	for _, d := range disks {
		named[d.Name] = true
	}
	for _, vol := range v.Spec.Volumes {
		if !named[vol.Name] {
			disks = append(disks, VMIDisk{Name: vol.Name})
		}
	}
	explicitBoot := false
	for _, d := range disks {
		explicitBoot = explicitBoot || d.BootOrder != nil
	}
	for _, nic := range v.Spec.Domain.Devices.Interfaces {
		explicitBoot = explicitBoot || nic.BootOrder != nil
	}
	var queues uint32
	if mq := v.Spec.Domain.Devices.BlockMultiQueue; mq != nil && *mq {
		queues = m.VCPUs()
	}
	for i, d := range disks {
		bus := diskBus(d)
		switch bus {
		case BusVirtio, BusSATA, BusSCSI:
		default:
			return fmt.Errorf("disk %q: bus %q is not supported (virtio, sata or scsi)", d.Name, bus)
		}
		p, ok := in.Disks[d.Name]
		if !ok {
			return fmt.Errorf("disk %q: its volume was not prepared", d.Name)
		}
		md := MachineDisk{Name: d.Name, Bus: bus, Path: p.Path, Format: p.Format, ReadOnly: p.ReadOnly || d.Disk != nil && d.Disk.ReadOnly,
			Serial: d.Serial, Cache: d.Cache, ErrorPolicy: d.ErrorPolicy}
		switch bus {
		case BusVirtio:
			md.Queues = queues
		case BusSATA:
			// QEMU's IDE disks cannot be read-only. Admission rejects a
			// read-only sata disk; a read-only source (the cloud-init seed)
			// is the launcher's private copy, so the guest may write to it.
			if d.Disk != nil && d.Disk.ReadOnly || p.ReadOnlyStorage {
				return fmt.Errorf("disk %q: a sata disk cannot be read-only: use the virtio or scsi bus", d.Name)
			}
			md.ReadOnly = false
		}
		switch {
		case d.BootOrder != nil:
			md.BootIndex = int(*d.BootOrder)
		case !explicitBoot:
			// No bootOrder anywhere: boot in the VMI's disk order.
			md.BootIndex = i + 1
		}
		m.Disks = append(m.Disks, md)
		if p.FD != nil {
			m.FDs = append(m.FDs, *p.FD)
		}
	}
	return nil
}

// nicModels maps KubeVirt's interface models to QEMU's devices.
var nicModels = map[string]string{
	"":         "virtio-net-pci",
	"virtio":   "virtio-net-pci",
	"e1000":    "e1000",
	"e1000e":   "e1000e",
	"ne2k_pci": "ne2k_pci",
	"pcnet":    "pcnet",
	"rtl8139":  "rtl8139",
}

// planNICs attaches the VM's one interface to the tap the launcher opened.
func planNICs(m *Machine, v *VMI, in PlanInput) error {
	for _, ifc := range v.Spec.Domain.Devices.Interfaces {
		if ifc.Masquerade == nil {
			return fmt.Errorf("interface %q: only the masquerade binding is supported", ifc.Name)
		}
		mac := ifc.MacAddress
		if mac == "" {
			mac = podcontract.StableMAC(v.Metadata.Namespace, v.Metadata.Name, v.Metadata.UID, ifc.Name)
		}
		hw, err := net.ParseMAC(mac)
		if err != nil {
			return fmt.Errorf("interface %q: %w", ifc.Name, err)
		}
		model, ok := nicModels[ifc.Model]
		if !ok {
			return fmt.Errorf("interface %q: model %q is not supported", ifc.Name, ifc.Model)
		}
		nic := MachineNIC{Name: ifc.Name, Tap: in.Tap, TapFD: in.TapFD, MAC: hw.String(), Model: model}
		if ifc.BootOrder != nil {
			nic.BootIndex = int(*ifc.BootOrder)
		}
		m.NICs = append(m.NICs, nic)
	}
	if len(m.NICs) > 1 {
		return fmt.Errorf("%d interfaces: only one (on %s) is supported", len(m.NICs), in.Tap)
	}
	if len(m.NICs) == 1 && in.TapFD < 3 {
		return fmt.Errorf("interface %q: no tap descriptor (fd %d): the launcher must attach to %s and pass it", m.NICs[0].Name, in.TapFD, in.Tap)
	}
	return nil
}

func orOne(n uint32) uint32 {
	if n == 0 {
		return 1
	}
	return n
}

// maxGuestMemory is the largest guest memory, as the CRD bounds it (16Ti):
// far above what QEMU can give a guest, and small enough that rounding to
// MiB cannot overflow.
var maxGuestMemory = resource.MustParse("16Ti")

// memoryMiB is memory.guest, else resources.requests.memory, else
// resources.limits.memory (KubeVirt's order), rounded up to whole MiB.
func memoryMiB(s *VMISpec) (int64, error) {
	q, ok := s.Domain.Resources.Requests["memory"]
	if !ok {
		q, ok = s.Domain.Resources.Limits["memory"]
	}
	if s.Domain.Memory != nil && s.Domain.Memory.Guest != nil {
		q, ok = *s.Domain.Memory.Guest, true
	}
	if !ok {
		return defaultMemoryMiB, nil
	}
	if q.Cmp(maxGuestMemory) > 0 {
		return 0, fmt.Errorf("guest memory %s is above %s", q.String(), maxGuestMemory.String())
	}
	b := q.Value()
	if b < 1<<20 {
		return 0, fmt.Errorf("guest memory %s is below 1Mi", q.String())
	}
	return (b + 1<<20 - 1) >> 20, nil
}
