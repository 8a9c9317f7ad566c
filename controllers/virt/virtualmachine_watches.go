package virt

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// SetupWithManager registers the controller: VirtualMachines, the VMIs they
// control, and launcher pods (a new run waits for the last run's pod to go).
func (r *VirtualMachineReconciler) SetupWithManager(mgr manager.Manager) error {
	return r.setup(mgr, r)
}

// setup lets tests wrap the reconciler (e.g. to count reconciles).
func (r *VirtualMachineReconciler) setup(mgr manager.Manager, rec reconcile.Reconciler) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(VMControllerName)
	}
	if r.Client == nil {
		return errors.New("VirtualMachineReconciler: no client")
	}
	return builder.ControllerManagedBy(mgr).
		Named(VMControllerName).
		// Spec (generation), annotations (restart requests) and deletion.
		For(&virtv1alpha1.VirtualMachine{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&virtv1alpha1.VirtualMachineInstance{}).
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(vmOfPod),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Complete(rec)
}

// vmOfPod enqueues the VirtualMachine a launcher pod's VMI belongs to, when
// the pod is created or deleted: the VM waits for the last run's pod to go.
func vmOfPod(_ context.Context, o client.Object) []reconcile.Request {
	vm := o.GetLabels()[virtv1alpha1.LabelVM]
	if vm == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: vm}}}
}
