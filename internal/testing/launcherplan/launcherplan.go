// Package launcherplan computes, for tests, the QEMU command line compute
// would start for a VMI: the disks prepared the way the launcher prepares them
// (container disks as qcow2 overlays over inherited descriptors, cloud-init
// seeds as raw ISOs) and the tap's descriptor after theirs.
package launcherplan

import (
	"path/filepath"
	"time"

	"virtmesh.io/virtmesh/internal/launcher"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// PreparedDisks mimics what the launcher prepares for v's volumes in dir.
func PreparedDisks(v *launcher.VMI, dir string) map[string]launcher.PreparedDisk {
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
		}
	}
	return out
}

// Input is the PlanInput the launcher would use for v with accel, its disks
// in dir, at time now.
func Input(v *launcher.VMI, accel, dir string, now time.Time) launcher.PlanInput {
	disks := PreparedDisks(v, dir)
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

// Args is QEMU's argv for v.
func Args(v *launcher.VMI, accel, dir string, now time.Time) ([]string, error) {
	m, err := launcher.BuildMachine(v, Input(v, accel, dir, now))
	if err != nil {
		return nil, err
	}
	return launcher.QEMUArgs(m), nil
}
