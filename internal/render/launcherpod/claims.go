package launcherpod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// The share of a claim's capacity left to the filesystem when compute
// creates disk.img, 5.5% (11/200): a raw image as big as the claim would not
// fit once the filesystem's own metadata (and, on ext4, the blocks reserved
// for root) are taken. 5.5% is CDI's default filesystemOverhead, which
// KubeVirt's DataVolumes leave for the same reason.
const (
	filesystemOverheadNumerator   = 11
	filesystemOverheadDenominator = 200
)

// Claim is what the controller resolved about a PersistentVolumeClaim before
// rendering: the renderer never looks anything up.
type Claim struct {
	// Capacity is the claim's status.capacity.storage, or its
	// spec.resources.requests.storage while it is not bound.
	Capacity resource.Quantity
}

// DiskImageSize is the size compute creates a claim's disk.img at: the
// capacity less the filesystem's 5.5%, rounded down to whole MiB (so the
// guest's disk has whole sectors and aligned partitions). Integer arithmetic
// all the way: the same claim always gives the same size.
func DiskImageSize(capacity resource.Quantity) int64 {
	const mib = 1 << 20
	b := capacity.Value()
	overhead := b/filesystemOverheadDenominator*filesystemOverheadNumerator +
		b%filesystemOverheadDenominator*filesystemOverheadNumerator/filesystemOverheadDenominator
	return (b - overhead) / mib * mib
}

// persistentDisks are compute's --persistent-disk values, one per
// persistentVolumeClaim volume, sized from the resolved claims.
func persistentDisks(vmi *virtv1alpha1.VirtualMachineInstance, claims map[string]Claim) ([]podcontract.PersistentDisk, error) {
	var out []podcontract.PersistentDisk
	for _, v := range vmi.Spec.Volumes {
		pvc := v.PersistentVolumeClaim
		if pvc == nil {
			continue
		}
		c, ok := claims[pvc.ClaimName]
		if !ok {
			return nil, fmt.Errorf("volume %q: PersistentVolumeClaim %s was not resolved before rendering", v.Name, pvc.ClaimName)
		}
		size := DiskImageSize(c.Capacity)
		if size <= 0 {
			return nil, fmt.Errorf("volume %q: PersistentVolumeClaim %s has a capacity of %s, too small for a disk (at least 2Mi): request more storage", v.Name, pvc.ClaimName, c.Capacity.String())
		}
		out = append(out, podcontract.PersistentDisk{Volume: v.Name, Path: podcontract.PVCDiskImagePath(v.Name), Size: size, ReadOnly: pvc.ReadOnly})
	}
	return out, nil
}

// claimVolumes are the pod volumes of the VMI's claims.
func claimVolumes(vmi *virtv1alpha1.VirtualMachineInstance) []corev1.Volume {
	var out []corev1.Volume
	for _, v := range vmi.Spec.Volumes {
		if pvc := v.PersistentVolumeClaim; pvc != nil {
			out = append(out, corev1.Volume{Name: podcontract.PVCVolumeName(v.Name), VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: pvc.ClaimName, ReadOnly: pvc.ReadOnly},
			}})
		}
	}
	return out
}

// claimMounts mount each claim into compute where its --persistent-disk
// path points.
func claimMounts(disks []podcontract.PersistentDisk) []corev1.VolumeMount {
	var out []corev1.VolumeMount
	for _, d := range disks {
		out = append(out, corev1.VolumeMount{Name: podcontract.PVCVolumeName(d.Volume), MountPath: podcontract.PVCMountPath(d.Volume), ReadOnly: d.ReadOnly})
	}
	return out
}

// claimSecurityContext gives the pod fsGroup QEMUUID when it mounts a claim:
// the kubelet makes the claim's files group-owned by it (where the volume
// plugin supports fsGroup), so compute, uid 107, can create and write
// disk.img on a claim whose files belong to anyone. OnRootMismatch skips the
// recursive ownership walk when the claim's root already matches, so a big
// claim does not slow every start.
func claimSecurityContext(sc *corev1.PodSecurityContext, disks []podcontract.PersistentDisk) {
	if len(disks) == 0 {
		return
	}
	sc.FSGroup = ptr.To[int64](podcontract.QEMUUID)
	sc.FSGroupChangePolicy = ptr.To(corev1.FSGroupChangeOnRootMismatch)
}
