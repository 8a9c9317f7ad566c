package podcontract

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// Persistent disks: a persistentVolumeClaim volume is mounted into compute at
// PVCMountPath(volume) and its disk is the raw file PVCDiskImageName on the
// claim (KubeVirt's filesystem-mode layout, so a claim moves between the
// two). The pod's fsGroup is QEMUUID so compute can create and write it.
const (
	// PVCVolumePrefix + the VMI's volume name is the pod volume of a claim.
	PVCVolumePrefix = "virtmesh-pvc-"
	// PVCMountDir holds one mount per claim, named after the VMI's volume.
	PVCMountDir = "/var/run/virtmesh/pvcs"
	// PVCDiskImageName is the disk's file on the claim (KubeVirt's name).
	PVCDiskImageName = "disk.img"
)

// PVCVolumeName is the pod volume of the VMI's persistentVolumeClaim volume.
func PVCVolumeName(volume string) string { return PVCVolumePrefix + volume }

// PVCMountPath is where compute mounts the claim of volume.
func PVCMountPath(volume string) string { return filepath.Join(PVCMountDir, volume) }

// PVCDiskImagePath is the disk.img of volume's claim inside compute.
func PVCDiskImagePath(volume string) string {
	return filepath.Join(PVCMountPath(volume), PVCDiskImageName)
}

// PersistentDisk is one persistentVolumeClaim disk as compute gets it: which
// file to open and, when it is absent, how big to create it. The operator
// resolves the size from the claim (the launcher never talks to the API
// server), so it travels in the flags rather than being re-derived.
type PersistentDisk struct {
	// Volume is the VMI's volume name.
	Volume string
	// Path is the disk image on the mounted claim (PVCDiskImagePath).
	Path string
	// Size in bytes of a disk.img compute creates; an existing one is used
	// as it is.
	Size int64
	// ReadOnly: the claim is mounted read-only and the disk attached so.
	ReadOnly bool
}

// String renders d as the --persistent-disk value
// "volume=<v>,size=<bytes>,readOnly=<bool>,path=<p>".
func (d PersistentDisk) String() string {
	return fmt.Sprintf("volume=%s,size=%d,readOnly=%t,path=%s", d.Volume, d.Size, d.ReadOnly, d.Path)
}

// ParsePersistentDisk is the inverse of PersistentDisk.String; every key is
// required.
func ParsePersistentDisk(s string) (PersistentDisk, error) {
	var d PersistentDisk
	seen := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || seen[k] {
			return d, fmt.Errorf("persistent disk %q: want volume=<name>,size=<bytes>,readOnly=<bool>,path=<file>", s)
		}
		seen[k] = true
		var err error
		switch k {
		case "volume":
			d.Volume = v
		case "path":
			d.Path = v
		case "size":
			d.Size, err = strconv.ParseInt(v, 10, 64)
		case "readOnly":
			d.ReadOnly, err = strconv.ParseBool(v)
		default:
			err = fmt.Errorf("unknown key %q", k)
		}
		if err != nil {
			return d, fmt.Errorf("persistent disk %q: %w", s, err)
		}
	}
	switch {
	case len(seen) != 4:
		return d, fmt.Errorf("persistent disk %q: want volume=<name>,size=<bytes>,readOnly=<bool>,path=<file>", s)
	case d.Volume == "" || !filepath.IsAbs(d.Path):
		return d, fmt.Errorf("persistent disk %q: want a volume name and an absolute path", s)
	case d.Size <= 0:
		return d, fmt.Errorf("persistent disk %q: size must be positive", s)
	}
	return d, nil
}

// persistentDiskList is the repeatable --persistent-disk flag.
func persistentDiskList(p *[]PersistentDisk) listValue[PersistentDisk] {
	return listValue[PersistentDisk]{p: p, parse: ParsePersistentDisk, format: PersistentDisk.String}
}
