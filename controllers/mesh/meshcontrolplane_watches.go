package mesh

import (
	"context"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
)

// SetupWithManager watches the MeshControlPlane, every kind it renders
// (cp.NamespacedKinds via Owns, cp.ClusterKinds via owner labels) and
// Namespaces (selector membership, labels changed by others).
func (r *MeshControlPlaneReconciler) SetupWithManager(mgr manager.Manager) error {
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	b := builder.ControllerManagedBy(mgr).
		Named(ControllerName).
		For(&meshv1alpha1.MeshControlPlane{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, deletionStarted())))
	// A change to one control plane's members (or its deletion) can free a
	// namespace another one claims: tell the others.
	b = b.Watches(&meshv1alpha1.MeshControlPlane{}, handler.EnqueueRequestsFromMapFunc(r.mapOtherControlPlanes),
		builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, deletionStarted())))
	for _, kind := range cp.NamespacedKinds() {
		if _, ok := kind.(*appsv1.Deployment); ok {
			// Status matters: it is the component's readiness.
			b = b.Owns(kind)
			continue
		}
		b = b.Owns(kind, builder.WithPredicates(contentChanged()))
	}
	for _, kind := range cp.ClusterKinds() {
		b = b.Watches(kind, handler.EnqueueRequestsFromMapFunc(mapByOwnerLabels), builder.WithPredicates(contentChanged()))
	}
	b = b.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.mapNamespace), builder.WithPredicates(predicate.Or[client.Object](
		predicate.LabelChangedPredicate{}, predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})))
	// Installing (or removing) Istio's PeerAuthentication CRD decides whether
	// the mesh-wide mTLS policy can be applied: tell every control plane.
	crd := &metav1.PartialObjectMetadata{}
	crd.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	b = b.WatchesMetadata(crd, handler.EnqueueRequestsFromMapFunc(r.mapAll), builder.WithPredicates(
		predicate.NewPredicateFuncs(func(o client.Object) bool { return o.GetName() == peerAuthenticationCRD })))
	return b.Complete(r)
}

// peerAuthenticationCRD is the name of Istio's PeerAuthentication CRD.
const peerAuthenticationCRD = "peerauthentications.security.istio.io"

// mapAll enqueues every MeshControlPlane.
func (r *MeshControlPlaneReconciler) mapAll(ctx context.Context, o client.Object) []reconcile.Request {
	list := &meshv1alpha1.MeshControlPlaneList{}
	if err := r.Client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list MeshControlPlanes for a CRD change", "crd", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, m := range list.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return reqs
}

// deletionStarted passes the update that sets deletionTimestamp.
func deletionStarted() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectOld.GetDeletionTimestamp() == nil && e.ObjectNew.GetDeletionTimestamp() != nil
	}}
}

// contentChanged ignores updates that change only status or bookkeeping
// metadata (resourceVersion, managedFields, generation): only a change someone
// made to what the operator renders (drift) or the object's deletion counts.
func contentChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		return !reflect.DeepEqual(content(e.ObjectOld), content(e.ObjectNew))
	}}
}

func content(o client.Object) map[string]any {
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return nil
	}
	delete(u, "status")
	if m, ok := u["metadata"].(map[string]any); ok {
		for _, k := range []string{"resourceVersion", "managedFields", "generation"} {
			delete(m, k)
		}
	}
	return u
}

func mapByOwnerLabels(_ context.Context, o client.Object) []reconcile.Request {
	l := o.GetLabels()
	ns, name := l[cp.LabelOwnerNamespace], l[cp.LabelOwnerName]
	if ns == "" || name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
}

// mapNamespace enqueues every MeshControlPlane: any of them may claim (by
// selector), own (LabelMemberOf) or lose a namespace. There are few of them.
func (r *MeshControlPlaneReconciler) mapNamespace(ctx context.Context, o client.Object) []reconcile.Request {
	list := &meshv1alpha1.MeshControlPlaneList{}
	if err := r.Client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list MeshControlPlanes for a namespace change", "namespace", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(list.Items))
	for _, m := range list.Items {
		if m.Namespace == o.GetName() {
			continue // the control-plane namespace is never a member
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return reqs
}

func (r *MeshControlPlaneReconciler) mapOtherControlPlanes(ctx context.Context, o client.Object) []reconcile.Request {
	list := &meshv1alpha1.MeshControlPlaneList{}
	if err := r.Client.List(ctx, list); err != nil {
		log.FromContext(ctx).Error(err, "Cannot list the other MeshControlPlanes", "meshControlPlane", klog.KObj(o))
		return nil
	}
	var reqs []reconcile.Request
	for _, m := range list.Items {
		if m.Namespace == o.GetNamespace() && m.Name == o.GetName() {
			continue
		}
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: m.Name}})
	}
	return reqs
}
