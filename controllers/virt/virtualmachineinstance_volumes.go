package virt

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
)

// indexClaimName indexes VMIs by the PersistentVolumeClaims their volumes
// name, so a claim's events reach exactly the VMIs waiting for it.
const indexClaimName = "spec.volumes.persistentVolumeClaim.claimName"

// annotationBetaStorageClass is the pre-storageClassName way of naming a
// claim's class, still honoured by the PersistentVolume controller.
const annotationBetaStorageClass = "volume.beta.kubernetes.io/storage-class"

// claimNames are the claims vmi's persistentVolumeClaim volumes name; it is
// also the field indexer's function.
func claimNames(vmi *virtv1alpha1.VirtualMachineInstance) []string {
	var out []string
	for _, v := range vmi.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			out = append(out, v.PersistentVolumeClaim.ClaimName)
		}
	}
	return out
}

// volumesWait says why the VMI's claims keep its launcher pod from being
// created: a VolumesReady reason and a message naming the claim and the fix.
type volumesWait struct {
	// Claim is the claim's name (in the VMI's namespace).
	Claim   string
	Reason  string
	Message string
}

// resolveClaims looks up every claim the VMI names (from reader: the API
// server before a pod is created) and returns what the renderer needs of
// them, or why the pod must wait. A claim is usable when it exists, has
// volumeMode Filesystem and is bound, or is pending in a StorageClass that
// binds when the pod is scheduled (WaitForFirstConsumer: waiting for the
// binding would wait forever). The size is the bound capacity, else the
// requested storage.
func resolveClaims(ctx context.Context, reader client.Reader, vmi *virtv1alpha1.VirtualMachineInstance) (map[string]launcherpod.Claim, *volumesWait, error) {
	claims := map[string]launcherpod.Claim{}
	for _, v := range vmi.Spec.Volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		ref := fmt.Sprintf("PersistentVolumeClaim %s/%s (volume %q)", vmi.Namespace, name, v.Name)
		pvc := &corev1.PersistentVolumeClaim{}
		if err := reader.Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: name}, pvc); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, &volumesWait{name, virtv1alpha1.ReasonPVCNotFound, ref + " does not exist: create it (volumeMode Filesystem); the launcher pod is created once it is bound"}, nil
			}
			return nil, nil, fmt.Errorf("get PersistentVolumeClaim %s/%s: %w", vmi.Namespace, name, err)
		}
		if pvc.DeletionTimestamp != nil {
			return nil, &volumesWait{name, virtv1alpha1.ReasonPVCNotFound, ref + " is being deleted: create it again once it is gone"}, nil
		}
		if m := pvc.Spec.VolumeMode; m != nil && *m == corev1.PersistentVolumeBlock {
			return nil, &volumesWait{name, virtv1alpha1.ReasonPVCBlockMode, ref + " has volumeMode Block, which VirtMesh does not support: it keeps a VM's disk as the file disk.img on a claim; recreate the claim with volumeMode: Filesystem"}, nil
		}
		switch pvc.Status.Phase {
		case corev1.ClaimBound:
			claims[name] = launcherpod.Claim{Capacity: claimSize(pvc)}
			continue
		case corev1.ClaimLost:
			return nil, &volumesWait{name, virtv1alpha1.ReasonPVCNotBound, ref + " is Lost: its PersistentVolume is gone; recreate the claim"}, nil
		}
		late, why, err := bindsOnFirstUse(ctx, reader, pvc)
		if err != nil {
			return nil, nil, err
		}
		if !late {
			return nil, &volumesWait{name, virtv1alpha1.ReasonPVCNotBound, ref + " is not bound to a volume yet (" + why + "); the launcher pod is created once it is"}, nil
		}
		claims[name] = launcherpod.Claim{Capacity: claimSize(pvc)}
	}
	return claims, nil, nil
}

// claimSize is the bound capacity, else the requested storage.
func claimSize(pvc *corev1.PersistentVolumeClaim) resource.Quantity {
	if q, ok := pvc.Status.Capacity[corev1.ResourceStorage]; ok {
		return q
	}
	return pvc.Spec.Resources.Requests[corev1.ResourceStorage]
}

// bindsOnFirstUse reports whether an unbound claim's StorageClass binds it
// only once a pod using it is scheduled; why says, when not, what it waits for.
func bindsOnFirstUse(ctx context.Context, reader client.Reader, pvc *corev1.PersistentVolumeClaim) (bool, string, error) {
	class := pvc.Annotations[annotationBetaStorageClass]
	if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class == "" {
		return false, "it names no StorageClass, so it waits for a matching PersistentVolume", nil
	}
	sc := &storagev1.StorageClass{}
	if err := reader.Get(ctx, types.NamespacedName{Name: class}, sc); err != nil {
		if apierrors.IsNotFound(err) {
			return false, "its StorageClass " + class + " does not exist", nil
		}
		return false, "", fmt.Errorf("get StorageClass %s: %w", class, err)
	}
	if m := sc.VolumeBindingMode; m != nil && *m == storagev1.VolumeBindingWaitForFirstConsumer {
		return true, "", nil
	}
	return false, "its StorageClass " + class + " binds claims immediately, and this one is not bound", nil
}
