// Package launcherplan computes, for tests, the QEMU command line compute
// would start for a VMI: the disks prepared the way the launcher prepares them
// (container disks as qcow2 overlays over inherited descriptors, cloud-init
// seeds as raw ISOs, claims as their raw disk.img, emptyDisks as raw files
// in the disks directory) and the tap's descriptor after theirs.
package launcherplan

import (
	"path/filepath"
	"time"

	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// PreparedDisks mimics what the launcher prepares for v's volumes in dir.
// persistent are compute's --persistent-disk flags; a claim without one is
// taken as a writable disk.img at its contract path.
func PreparedDisks(v *launcher.VMI, dir string, persistent []podcontract.PersistentDisk) map[string]launcher.PreparedDisk {
	out := map[string]launcher.PreparedDisk{}
	set := 0
	for _, vol := range v.Spec.Volumes {
		switch {
		case vol.ContainerDisk != nil:
			set++
			fd := &launcher.MachineFD{FD: 2 + set, Set: set, Opaque: vol.Name}
			out[vol.Name] = launcher.PreparedDisk{FD: fd, Path: filepath.Join(dir, vol.Name+".qcow2"), Format: "qcow2"}
		case vol.CloudInitNoCloud != nil:
			out[vol.Name] = launcher.PreparedDisk{Path: filepath.Join(dir, vol.Name+".iso"), Format: "raw", ReadOnly: true}
		case vol.PersistentVolumeClaim != nil:
			d := podcontract.PersistentDisk{Volume: vol.Name, Path: podcontract.PVCDiskImagePath(vol.Name)}
			for _, f := range persistent {
				if f.Volume == vol.Name {
					d = f
				}
			}
			out[vol.Name] = launcher.PreparedDisk{Path: d.Path, Format: "raw", ReadOnly: d.ReadOnly, ReadOnlyStorage: d.ReadOnly}
		case vol.EmptyDisk != nil:
			out[vol.Name] = launcher.PreparedDisk{Path: filepath.Join(dir, vol.Name+".raw"), Format: "raw"}
		}
	}
	return out
}

// Input is the PlanInput the launcher would use for v with accel, its disks
// in dir, at time now.
func Input(v *launcher.VMI, accel, dir string, now time.Time, persistent []podcontract.PersistentDisk) launcher.PlanInput {
	disks := PreparedDisks(v, dir, persistent)
	fds := 0
	for _, d := range disks {
		if d.FD != nil {
			fds++
		}
	}
	return launcher.PlanInput{
		Accel:     accel,
		Disks:     disks,
		SerialLog: podcontract.DefaultSerialLog,
		QMPSocket: podcontract.DefaultQMPSocket,
		Tap:       podcontract.DefaultTap,
		TapFD:     3 + fds,
		Now:       now,
	}
}

// Args is QEMU's argv for v; persistent are compute's --persistent-disk
// flags (nil: every claim a writable disk.img at its contract path).
func Args(v *launcher.VMI, accel, dir string, now time.Time, persistent ...podcontract.PersistentDisk) ([]string, error) {
	m, err := launcher.BuildMachine(v, Input(v, accel, dir, now, persistent))
	if err != nil {
		return nil, err
	}
	return launcher.QEMUArgs(m), nil
}
