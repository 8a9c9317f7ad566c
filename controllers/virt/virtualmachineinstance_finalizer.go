package virt

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// The launcher pod's finalizer (virtv1alpha1.FinalizerLauncherPod) is the
// durable half of "a VMI runs once". The status patch that names the pod
// follows the create; memory (createdPods) covers a lost patch while the
// process lives, and the finalizer covers a crash in between: a deleted pod
// stays, terminating, until a status naming it has landed, so a restarted
// operator always finds either the pod or the record. It costs one write per
// pod deletion (the finalizer's removal), none on the way to Running, and it
// lets that way skip the intermediate status patch (holdBack).

// hasLauncherFinalizer reports whether pod still carries our finalizer.
func hasLauncherFinalizer(pod *corev1.Pod) bool {
	return slices.Contains(pod.Finalizers, virtv1alpha1.FinalizerLauncherPod)
}

// releasable reports whether the finalizer may come off a terminating
// launcher pod: its VMI is gone (vmi nil) or is another VMI of the same name
// (a predecessor's pod), or the VMI's stored status already records the pod
// (it names it, or the run is over). stored is the status as the API server
// has it, not one computed in this reconcile.
func releasable(vmi *virtv1alpha1.VirtualMachineInstance, pod *corev1.Pod) bool {
	if pod.DeletionTimestamp == nil || !hasLauncherFinalizer(pod) {
		return false
	}
	if vmi == nil || !controlledBy(pod, vmi) {
		return true
	}
	return vmi.Status.LauncherPod == pod.Name || isTerminal(vmi.Status.Phase)
}

// controlledBy reports whether vmi is pod's controller (same UID).
func controlledBy(pod *corev1.Pod, vmi *virtv1alpha1.VirtualMachineInstance) bool {
	ref := metav1.GetControllerOf(pod)
	return ref != nil && ref.UID == vmi.UID
}

// releasePod removes our finalizer from pod with a JSON patch that first
// tests the entry is still where the cached pod has it: no resourceVersion is
// needed (a pod just deleted has a newer one), and a patch from a stale pod
// cannot drop somebody else's finalizer. A pod already gone is not an error;
// a failed test is, and the reconcile is retried with a fresher pod.
func (r *VirtualMachineInstanceReconciler) releasePod(ctx context.Context, pod *corev1.Pod) error {
	i := slices.Index(pod.Finalizers, virtv1alpha1.FinalizerLauncherPod)
	if i < 0 {
		return nil
	}
	path := fmt.Sprintf("/metadata/finalizers/%d", i)
	patch, err := json.Marshal([]map[string]string{
		{"op": "test", "path": path, "value": virtv1alpha1.FinalizerLauncherPod},
		{"op": "remove", "path": path},
	})
	if err != nil {
		return err
	}
	if err := r.Client.Patch(ctx, pod, client.RawPatch(types.JSONPatchType, patch)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove finalizer from launcher pod %s: %w", pod.Name, err)
	}
	log.FromContext(ctx).V(1).Info("Released launcher pod", "pod", klog.KObj(pod))
	return nil
}
