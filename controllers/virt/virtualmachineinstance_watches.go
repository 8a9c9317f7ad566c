package virt

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/membership"
)

// LauncherPodSelector selects launcher pods. The manager's Pod cache is
// restricted with it (LauncherPodCache), so the operator caches its own pods
// only.
func LauncherPodSelector() labels.Selector {
	req, err := labels.NewRequirement(virtv1alpha1.LabelVMI, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key
	}
	return labels.NewSelector().Add(*req)
}

// SetupWithManager registers the controller: VMIs, their pods, the
// namespaces and control planes that decide mesh enrollment, and the claims
// (and storage classes) a VMI's launcher pod waits for.
func (r *VirtualMachineInstanceReconciler) SetupWithManager(mgr manager.Manager) error {
	return r.setup(mgr, r)
}

// setup lets tests wrap the reconciler (e.g. to count reconciles).
func (r *VirtualMachineInstanceReconciler) setup(mgr manager.Manager, rec reconcile.Reconciler) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Scheme == nil {
		r.Scheme = mgr.GetScheme()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(ControllerName)
	}
	if r.LauncherImage == "" {
		return errors.New("VirtualMachineInstanceReconciler: LauncherImage is empty")
	}
	// Drop the copies of our own status writes once the cache has them.
	informer, err := mgr.GetCache().GetInformer(context.Background(), &virtv1alpha1.VirtualMachineInstance{})
	if err != nil {
		return err
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) {
			if vmi, ok := obj.(*virtv1alpha1.VirtualMachineInstance); ok {
				r.written.seen(vmi)
			}
		},
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, indexPodNode, func(o client.Object) []string {
		if pod, ok := o.(*corev1.Pod); ok && pod.Spec.NodeName != "" {
			return []string{pod.Spec.NodeName}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, indexPodVMI, func(o client.Object) []string {
		if name, ok := o.GetLabels()[virtv1alpha1.LabelVMI]; ok {
			return []string{name}
		}
		return nil
	}); err != nil {
		return err
	}
	r.podIndex = true
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &virtv1alpha1.VirtualMachineInstance{}, indexClaimName, func(o client.Object) []string {
		return claimNames(o.(*virtv1alpha1.VirtualMachineInstance))
	}); err != nil {
		return fmt.Errorf("index VMIs by claim: %w", err)
	}
	return builder.ControllerManagedBy(mgr).
		Named(ControllerName).
		// Status updates (ours) do not bump the generation; labels and
		// annotations (mesh opt-in/out, excluded ports) matter before the pod exists.
		For(&virtv1alpha1.VirtualMachineInstance{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		Owns(&corev1.Pod{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.vmisInNamespace),
			builder.WithPredicates(predicate.LabelChangedPredicate{})).
		Watches(&meshv1alpha1.MeshControlPlane{}, handler.EnqueueRequestsFromMapFunc(r.vmisOfControlPlane)).
		// A claim created, bound or deleted un-pends (or pends) the VMIs
		// that name it; its status matters, so no predicate.
		Watches(&corev1.PersistentVolumeClaim{}, handler.EnqueueRequestsFromMapFunc(r.vmisOfClaim)).
		// A StorageClass created after its claims can make them bind on
		// first use. Classes are immutable: only creation matters.
		Watches(&storagev1.StorageClass{}, handler.EnqueueRequestsFromMapFunc(r.vmisWaitingForBinding),
			builder.WithPredicates(predicate.Funcs{
				UpdateFunc:  func(event.UpdateEvent) bool { return false },
				DeleteFunc:  func(event.DeleteEvent) bool { return false },
				GenericFunc: func(event.GenericEvent) bool { return false },
			})).
		// Node metadata only (a few hundred bytes each), for deletions.
		WatchesMetadata(&corev1.Node{}, handler.EnqueueRequestsFromMapFunc(r.vmisOnNode), builder.WithPredicates(deletedOnly)).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Workers, 1)}).
		Complete(rec)
}

// indexPodNode indexes the launcher pod cache by spec.nodeName.
const indexPodNode = "spec.nodeName"

// indexPodVMI indexes the launcher pod cache by the VMI label's value, so
// finding a VMI's pods does not walk every pod of its namespace (a label
// selector does: quadratic in the VMIs of a namespace).
const indexPodVMI = "metadata.labels." + virtv1alpha1.LabelVMI

// deletedOnly passes delete events only.
var deletedOnly = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
}

// vmisOnNode enqueues the VMIs whose launcher pods are bound to a node that
// was deleted: they never run again.
func (r *VirtualMachineInstanceReconciler) vmisOnNode(ctx context.Context, obj client.Object) []reconcile.Request {
	var pods corev1.PodList
	if err := r.Client.List(ctx, &pods, client.MatchingFields{indexPodNode: obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list launcher pods on a deleted node", "node", obj.GetName())
		return nil
	}
	out := make([]reconcile.Request, 0, len(pods.Items))
	for i := range pods.Items {
		if name := pods.Items[i].Labels[virtv1alpha1.LabelVMI]; name != "" {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: pods.Items[i].Namespace, Name: name}})
		}
	}
	return out
}

// vmisOfClaim enqueues the VMIs without a launcher pod that name the claim:
// the others mount it already (or never will again).
func (r *VirtualMachineInstanceReconciler) vmisOfClaim(ctx context.Context, obj client.Object) []reconcile.Request {
	var list virtv1alpha1.VirtualMachineInstanceList
	if err := r.Client.List(ctx, &list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{indexClaimName: obj.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list the VMIs of a PersistentVolumeClaim", "persistentVolumeClaim", klog.KObj(obj))
		return nil
	}
	return podless(list.Items, func(*virtv1alpha1.VirtualMachineInstance) bool { return true })
}

// vmisWaitingForBinding enqueues the VMIs without a launcher pod that wait
// for a claim to bind.
func (r *VirtualMachineInstanceReconciler) vmisWaitingForBinding(ctx context.Context, obj client.Object) []reconcile.Request {
	var list virtv1alpha1.VirtualMachineInstanceList
	if err := r.Client.List(ctx, &list); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list VMIs for a new StorageClass", "storageClass", klog.KObj(obj))
		return nil
	}
	return podless(list.Items, func(v *virtv1alpha1.VirtualMachineInstance) bool {
		c := meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionVolumesReady)
		return c != nil && c.Reason == virtv1alpha1.ReasonPVCNotBound
	})
}

// podless are the VMIs in list that may still get a launcher pod and keep.
func podless(list []virtv1alpha1.VirtualMachineInstance, keep func(*virtv1alpha1.VirtualMachineInstance) bool) []reconcile.Request {
	var out []reconcile.Request
	for i := range list {
		v := &list[i]
		if created(v) || isTerminal(v.Status.Phase) || !keep(v) {
			continue
		}
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: v.Namespace, Name: v.Name}})
	}
	return out
}

// vmisInNamespace enqueues the VMIs of a namespace whose labels changed.
func (r *VirtualMachineInstanceReconciler) vmisInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	return r.vmisIn(ctx, obj.GetName(), nil)
}

// vmisOfControlPlane enqueues the VMIs that a MeshControlPlane can enroll:
// those in the namespaces its spec claims (listed, whether or not they exist
// yet, or selected), those in namespaces labelled for it (member-of, or the
// injection/revision label it answers to) and, for a default-revision control
// plane, VMIs that opt in anywhere. Update events map the old object too, so
// namespaces a spec change releases are enqueued as well.
func (r *VirtualMachineInstanceReconciler) vmisOfControlPlane(ctx context.Context, obj client.Object) []reconcile.Request {
	mcp, ok := obj.(*meshv1alpha1.MeshControlPlane)
	if !ok {
		return nil
	}
	logger := log.FromContext(ctx)
	selectors := []client.MatchingLabels{{meshv1alpha1.LabelMemberOf: membership.Key(mcp)}}
	if mcp.Spec.Revision == "" {
		selectors = append(selectors, client.MatchingLabels{meshv1alpha1.LabelInjection: "enabled"}, client.MatchingLabels{meshv1alpha1.LabelRevision: "default"})
	} else {
		selectors = append(selectors, client.MatchingLabels{meshv1alpha1.LabelRevision: mcp.Spec.Revision})
	}
	seen := map[string]bool{}
	var out []reconcile.Request
	// Declared members: a namespace created together with the control plane
	// is not labelled yet.
	for _, n := range mcp.Spec.Members.Namespaces {
		if !seen[n] && !membership.Excluded(n, mcp.Namespace) {
			seen[n] = true
			out = append(out, r.vmisIn(ctx, n, nil)...)
		}
	}
	if mcp.Spec.Members.Selector != nil {
		if sel, err := metav1.LabelSelectorAsSelector(mcp.Spec.Members.Selector); err == nil && !sel.Empty() {
			var nss corev1.NamespaceList
			if err := r.Client.List(ctx, &nss, client.MatchingLabelsSelector{Selector: sel}); err != nil {
				logger.Error(err, "Cannot list selected member namespaces", "meshControlPlane", klog.KObj(mcp))
			}
			for _, ns := range nss.Items {
				if !seen[ns.Name] && !membership.Excluded(ns.Name, mcp.Namespace) {
					seen[ns.Name] = true
					out = append(out, r.vmisIn(ctx, ns.Name, nil)...)
				}
			}
		}
	}
	for _, sel := range selectors {
		var nss corev1.NamespaceList
		if err := r.Client.List(ctx, &nss, sel); err != nil {
			logger.Error(err, "Cannot list member namespaces", "meshControlPlane", klog.KObj(mcp))
			continue
		}
		for _, ns := range nss.Items {
			if !seen[ns.Name] {
				seen[ns.Name] = true
				out = append(out, r.vmisIn(ctx, ns.Name, nil)...)
			}
		}
	}
	if mcp.Spec.Revision == "" {
		out = append(out, r.vmisIn(ctx, "", func(v *virtv1alpha1.VirtualMachineInstance) bool {
			return !seen[v.Namespace] && v.Annotations[virtv1alpha1.AnnotationInject] == "true"
		})...)
	}
	return out
}

func (r *VirtualMachineInstanceReconciler) vmisIn(ctx context.Context, namespace string, keep func(*virtv1alpha1.VirtualMachineInstance) bool) []reconcile.Request {
	var list virtv1alpha1.VirtualMachineInstanceList
	if err := r.Client.List(ctx, &list, client.InNamespace(namespace)); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list VMIs", "namespace", namespace)
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		v := &list.Items[i]
		// Only VMIs without a pod can still change enrollment; the others
		// show a membership change in MeshEnrolled's message.
		if keep != nil && !keep(v) {
			continue
		}
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: v.Namespace, Name: v.Name}})
	}
	return out
}
