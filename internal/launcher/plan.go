package launcher

import (
	"fmt"
	"net"

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
}

// defaultMemoryMiB is used when the VMI sets neither memory.guest nor
// resources.requests.memory (admission normally prevents that).
const defaultMemoryMiB = 128

// BuildMachine maps a VMI to the machine QEMU runs. It is pure: the golden
// tests feed it VMI fixtures. Disks keep the VMI's order; a disk whose
// volume was not prepared is an error.
func BuildMachine(v *VMI, in PlanInput) (Machine, error) {
	m := Machine{
		Name:      v.Metadata.Namespace + "_" + v.Metadata.Name,
		Accel:     in.Accel,
		Sockets:   1,
		Cores:     1,
		Threads:   1,
		SerialLog: in.SerialLog,
		QMPSocket: in.QMPSocket,
	}
	if v.Metadata.Namespace == "" {
		m.Name = v.Metadata.Name
	}
	if _, err := uuid.Parse(v.Metadata.UID); err == nil {
		m.UUID = v.Metadata.UID
	}
	if c := v.Spec.Domain.CPU; c != nil {
		m.Sockets, m.Cores, m.Threads = orOne(c.Sockets), orOne(c.Cores), orOne(c.Threads)
	}
	mem, err := memoryMiB(&v.Spec)
	if err != nil {
		return Machine{}, err
	}
	m.MemoryMiB = mem

	explicitBoot := false
	for _, d := range v.Spec.Domain.Devices.Disks {
		if d.BootOrder != nil {
			explicitBoot = true
		}
	}
	for i, d := range v.Spec.Domain.Devices.Disks {
		if d.Disk != nil && d.Disk.Bus != "" && d.Disk.Bus != "virtio" {
			return Machine{}, fmt.Errorf("disk %q: bus %q is not supported, only virtio", d.Name, d.Disk.Bus)
		}
		p, ok := in.Disks[d.Name]
		if !ok {
			return Machine{}, fmt.Errorf("disk %q: its volume was not prepared", d.Name)
		}
		md := MachineDisk{Name: d.Name, Path: p.Path, Format: p.Format, ReadOnly: p.ReadOnly, Serial: d.Serial}
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

	for _, ifc := range v.Spec.Domain.Devices.Interfaces {
		if ifc.Masquerade == nil {
			return Machine{}, fmt.Errorf("interface %q: only the masquerade binding is supported", ifc.Name)
		}
		mac := ifc.MacAddress
		if mac == "" {
			mac = podcontract.StableMAC(v.Metadata.Namespace, v.Metadata.Name, v.Metadata.UID, ifc.Name)
		}
		if _, err := net.ParseMAC(mac); err != nil {
			return Machine{}, fmt.Errorf("interface %q: %w", ifc.Name, err)
		}
		m.NICs = append(m.NICs, MachineNIC{Name: ifc.Name, Tap: in.Tap, TapFD: in.TapFD, MAC: mac})
	}
	if len(m.NICs) > 1 {
		return Machine{}, fmt.Errorf("%d interfaces: only one (on %s) is supported", len(m.NICs), in.Tap)
	}
	if len(m.NICs) == 1 && in.TapFD < 3 {
		return Machine{}, fmt.Errorf("interface %q: no tap descriptor (fd %d): the launcher must attach to %s and pass it", m.NICs[0].Name, in.TapFD, in.Tap)
	}
	return m, nil
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

// memoryMiB is memory.guest, else resources.requests.memory, rounded up to
// whole MiB.
func memoryMiB(s *VMISpec) (int64, error) {
	q, ok := s.Domain.Resources.Requests["memory"]
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
