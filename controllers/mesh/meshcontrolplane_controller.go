// Package mesh holds the MeshControlPlane controller: it applies the rendered
// control plane (internal/render/controlplane) with server-side apply,
// labels member namespaces, publishes the injection settings snapshot and
// reports status once per reconcile.
package mesh

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/config"
	"virtmesh.io/virtmesh/internal/membership"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/statuspatch"
)

const (
	// FieldManager is the one server-side apply field manager of the operator.
	FieldManager = "virtmesh-operator"
	// Finalizer removes what has no ownerReference: cluster-scoped objects and
	// namespace labels.
	Finalizer = "mesh.virtmesh.io/finalizer"
	// ControllerName names the controller (and its metrics).
	ControllerName = "meshcontrolplane"
)

// MeshControlPlaneReconciler reconciles MeshControlPlanes.
type MeshControlPlaneReconciler struct {
	Client   client.Client
	Scheme   *runtime.Scheme
	Recorder events.EventRecorder
	// Images are the operator's operand images (from its environment).
	Images config.Images
	// APIReader reads what the cache does not hold (istiod's CA Secret, the
	// root-certificate ConfigMaps istiod writes); SetupWithManager fills it
	// with mgr.GetAPIReader() when nil.
	APIReader client.Reader
}

var _ reconcile.Reconciler = &MeshControlPlaneReconciler{}

// +kubebuilder:rbac:groups=mesh.virtmesh.io,resources=meshcontrolplanes,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=mesh.virtmesh.io,resources=meshcontrolplanes/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=mesh.virtmesh.io,resources=meshcontrolplanes/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups="",resources=serviceaccounts;services;configmaps,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=roles;rolebindings;clusterroles;clusterrolebindings,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=security.istio.io,resources=peerauthentications,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=apiextensions.k8s.io,resources=customresourcedefinitions,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
//
// The operator must itself hold every permission it grants (RBAC escalation
// prevention): istiod's (IstiodClusterRules, IstiodGatewayControllerRules,
// IstiodNamespaceRules: Istio's chart, wildcards included), the ingress
// gateway's and the addons' (AddonClusterRules). TestOperatorHoldsWhatItGrants
// checks these markers cover them.
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=mutatingwebhookconfigurations,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=config.istio.io;security.istio.io;networking.istio.io;authentication.istio.io;rbac.istio.io;telemetry.istio.io;extensions.istio.io,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.istio.io,resources=workloadentries;workloadentries/status;serviceentries/status;gateways,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=security.istio.io,resources=authorizationpolicies/status,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=services;services/status;serviceaccounts,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=pods;nodes;endpoints;replicationcontrollers,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=list;watch;create;update;delete
// +kubebuilder:rbac:groups=discovery.k8s.io,resources=endpointslices,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses;ingressclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses/status,verbs=*
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups=gateway.networking.k8s.io;gateway.networking.x-k8s.io,resources=*,verbs=get;list;watch
// +kubebuilder:rbac:groups=gateway.networking.x-k8s.io,resources=xbackendtrafficpolicies/status,verbs=update;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=backendtlspolicies/status;gatewayclasses/status;gateways/status;grpcroutes/status;httproutes/status;referencegrants/status;tcproutes/status;tlsroutes/status;udproutes/status;listenersets/status,verbs=update;patch
// +kubebuilder:rbac:groups=gateway.networking.k8s.io,resources=gatewayclasses,verbs=create;update;patch;delete
// +kubebuilder:rbac:groups=inference.networking.k8s.io,resources=inferencepools,verbs=get;list;watch
// +kubebuilder:rbac:groups=inference.networking.k8s.io,resources=inferencepools/status,verbs=update;patch
// +kubebuilder:rbac:groups=multicluster.x-k8s.io,resources=serviceexports,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=multicluster.x-k8s.io,resources=serviceimports,verbs=get;list;watch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=update
// +kubebuilder:rbac:groups=apps,resources=replicasets;statefulsets;daemonsets,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=update
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;list;watch;create;update;patch

// Reconcile gets the MeshControlPlane, finalizes it when it is being deleted,
// otherwise applies the rendered control plane and its members
// (doReconcile), and patches the status once, only when it changed.
func (r *MeshControlPlaneReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	mcp := &meshv1alpha1.MeshControlPlane{}
	if err := r.Client.Get(ctx, req.NamespacedName, mcp); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if mcp.DeletionTimestamp != nil {
		return reconcile.Result{}, r.finalize(ctx, mcp)
	}
	if !controllerutil.ContainsFinalizer(mcp, Finalizer) {
		orig := mcp.DeepCopy()
		controllerutil.AddFinalizer(mcp, Finalizer)
		if err := r.Client.Patch(ctx, mcp, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
			return reconcile.Result{}, fmt.Errorf("add finalizer: %w", err)
		}
	}

	obs, recErr := r.doReconcile(ctx, mcp)
	status := computeStatus(mcp, obs)
	r.recordTransition(mcp, status)
	conflict, statusErr := statuspatch.Patch(ctx, r.Client, mcp, &mcp.Status, status)
	var result reconcile.Result
	switch {
	case conflict || (recErr == nil && obs.retry):
		// The object or a namespace changed under us (a stale cache):
		// observe again shortly instead of reporting a failure.
		result.RequeueAfter = time.Second
	case recErr == nil && obs.rootCert.waiting():
		// istiod writes its root certificate into the members; those
		// ConfigMaps are not watched (not in the cache), so look again.
		result.RequeueAfter = rootCertPollInterval
	}
	// controller-runtime logs a returned error and retries with backoff.
	return result, errors.Join(recErr, statusErr)
}

// doReconcile applies everything and observes readiness. The returned error is
// retried; invalid specs are reported in the observation only.
func (r *MeshControlPlaneReconciler) doReconcile(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane) (observation, error) {
	var obs observation
	v, problems := cp.Resolve(mcp, r.Images)
	fatal := false
	for _, p := range problems {
		obs.invalidSpec = append(obs.invalidSpec, p.Error())
		fatal = fatal || p.Component == cp.ComponentIstiod
	}
	if mcp.Spec.Members.Selector != nil {
		if _, err := metav1.LabelSelectorAsSelector(mcp.Spec.Members.Selector); err != nil {
			obs.invalidSpec = append(obs.invalidSpec, "members.selector: "+err.Error())
		}
	}
	var errs []error
	if !fatal {
		snap, paMissing, err := r.applyControlPlane(ctx, mcp, v)
		obs.snapshot, obs.peerAuthenticationCRDMissing = snap, paMissing
		errs = append(errs, err)
	}
	plan, retry, err := r.reconcileMembers(ctx, mcp)
	obs.members, obs.retry = plan, retry
	errs = append(errs, err)
	obs.readiness, err = r.readiness(ctx, v, fatal)
	errs = append(errs, err)
	if !fatal {
		obs.rootCert, err = r.observeRootCerts(ctx, v, plan.Status.Configured)
		errs = append(errs, err)
	}
	obs.applyErr = errors.Join(errs...)
	if permanent(obs.applyErr) {
		// The API server refuses what was rendered (invalid or forbidden):
		// retrying the same objects cannot help. The condition says why; a
		// spec change brings the control plane back through the watch.
		return obs, nil
	}
	return obs, obs.applyErr
}

// permanent reports an error made only of API server refusals that retrying
// the same request cannot clear: Invalid, and Forbidden other than a quota.
func permanent(err error) bool {
	switch e := err.(type) {
	case nil:
		return false
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if !permanent(inner) {
				return false
			}
		}
		return true
	case interface{ Unwrap() error }:
		return permanent(e.Unwrap())
	}
	return apierrors.IsInvalid(err) || apierrors.IsForbidden(err) && !strings.Contains(err.Error(), "exceeded quota")
}

// applyControlPlane applies every rendered object, the mTLS policy (when its
// CRD is served) and the injection snapshot, then prunes what is no longer
// rendered. It returns the snapshot name and whether the mTLS mode needed a
// PeerAuthentication whose CRD is not served.
func (r *MeshControlPlaneReconciler) applyControlPlane(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane, v cp.Values) (string, bool, error) {
	objs, err := cp.Render(v)
	if err != nil {
		return "", false, err
	}
	var errs []error
	desired := map[string]bool{}
	for _, o := range objs {
		namespaced := o.GetNamespace() != ""
		gvk := o.GetObjectKind().GroupVersionKind()
		desired[gvk.Kind+"/"+o.GetName()] = true
		if err := r.apply(ctx, mcp, o, namespaced); err != nil {
			errs = append(errs, fmt.Errorf("apply %s %s: %w", gvk.Kind, o.GetName(), err))
		}
	}
	served, err := r.applyPeerAuthentication(ctx, mcp, v)
	if err != nil {
		errs = append(errs, err)
	}
	// PERMISSIVE is what istiod does without any PeerAuthentication, so
	// only STRICT and DISABLE are lost without the CRD.
	paMissing := !served && v.MTLS != meshv1alpha1.MTLSPermissive
	snap, err := cp.InjectionSettings(v).Snapshot()
	if err != nil {
		return "", paMissing, errors.Join(append(errs, err)...)
	}
	name := ""
	if err := r.apply(ctx, mcp, snap, true); err != nil {
		errs = append(errs, fmt.Errorf("apply injection snapshot %s: %w", snap.Name, err))
	} else {
		name = snap.Name
	}
	if len(errs) == 0 {
		errs = append(errs, r.prune(ctx, mcp, desired))
	}
	return name, paMissing, errors.Join(errs...)
}

// apply server-side applies obj; namespaced objects get the MCP as controller.
func (r *MeshControlPlaneReconciler) apply(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane, obj client.Object, owned bool) error {
	if owned {
		if err := controllerutil.SetControllerReference(mcp, obj, r.Scheme); err != nil {
			return err
		}
	}
	var u map[string]any
	if un, ok := obj.(*unstructured.Unstructured); ok {
		u = un.Object
	} else {
		var err error
		if u, err = runtime.DefaultUnstructuredConverter.ToUnstructured(obj); err != nil {
			return err
		}
	}
	delete(u, "status")
	unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u, "spec", "template", "metadata", "creationTimestamp")
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(&unstructured.Unstructured{Object: u}),
		client.FieldOwner(FieldManager), client.ForceOwnership)
}

// applyPeerAuthentication applies the mesh-wide mTLS policy when Istio's
// PeerAuthentication CRD is served (VirtMesh ships it in config/crd and the
// bundle) and reports whether it is. The CRD is watched, so installing it
// later brings the MeshControlPlane back here.
func (r *MeshControlPlaneReconciler) applyPeerAuthentication(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane, v cp.Values) (bool, error) {
	gk := schema.GroupKind{Group: cp.PeerAuthenticationGVK.Group, Kind: cp.PeerAuthenticationGVK.Kind}
	if _, err := r.Client.RESTMapper().RESTMapping(gk, cp.PeerAuthenticationGVK.Version); err != nil {
		if meta.IsNoMatchError(err) {
			return false, nil
		}
		return false, fmt.Errorf("look up PeerAuthentication: %w", err)
	}
	if err := r.apply(ctx, mcp, cp.PeerAuthentication(v), true); err != nil {
		return true, fmt.Errorf("apply PeerAuthentication: %w", err)
	}
	return true, nil
}

// prune deletes objects this control plane rendered before but no longer
// renders (a gateway or addon turned off). Snapshots are kept: running
// launcher pods were rendered from them.
func (r *MeshControlPlaneReconciler) prune(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane, desired map[string]bool) error {
	var errs []error
	sel := client.MatchingLabels{cp.LabelManagedBy: cp.ManagedByValue, cp.LabelControlPlane: mcp.Name}
	for _, kind := range cp.NamespacedKinds() {
		errs = append(errs, r.pruneKind(ctx, kind, desired, func(o client.Object) bool { return metav1.IsControlledBy(o, mcp) },
			client.InNamespace(mcp.Namespace), sel))
	}
	for _, kind := range cp.ClusterKinds() {
		errs = append(errs, r.pruneKind(ctx, kind, desired, func(client.Object) bool { return true },
			client.MatchingLabels{cp.LabelOwnerNamespace: mcp.Namespace, cp.LabelOwnerName: mcp.Name}))
	}
	return errors.Join(errs...)
}

func (r *MeshControlPlaneReconciler) pruneKind(ctx context.Context, kind client.Object, desired map[string]bool, ours func(client.Object) bool, opts ...client.ListOption) error {
	gvk, err := r.Client.GroupVersionKindFor(kind)
	if err != nil {
		return err
	}
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	if err := r.Client.List(ctx, list, opts...); err != nil {
		return fmt.Errorf("list %s: %w", gvk.Kind, err)
	}
	var errs []error
	for i := range list.Items {
		o := &list.Items[i]
		if desired[gvk.Kind+"/"+o.GetName()] || !ours(o) || o.GetDeletionTimestamp() != nil {
			continue
		}
		if err := client.IgnoreNotFound(r.Client.Delete(ctx, o)); err != nil {
			errs = append(errs, fmt.Errorf("prune %s %s: %w", gvk.Kind, o.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// reconcileMembers labels and unlabels namespaces according to planMembers.
func (r *MeshControlPlaneReconciler) reconcileMembers(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane) (memberPlan, bool, error) {
	nsList := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, nsList); err != nil {
		return memberPlan{}, false, fmt.Errorf("list namespaces: %w", err)
	}
	mcps := &meshv1alpha1.MeshControlPlaneList{}
	if err := r.Client.List(ctx, mcps); err != nil {
		return memberPlan{}, false, fmt.Errorf("list MeshControlPlanes: %w", err)
	}
	plan := planMembers(mcp, mcps.Items, nsList.Items)
	retry, err := r.applyLabelChanges(ctx, nsList.Items, plan.Changes)
	return plan, retry, err
}

// applyLabelChanges patches namespace labels. A conflict (the cached namespace
// was stale) is not a failure: it reports retry.
func (r *MeshControlPlaneReconciler) applyLabelChanges(ctx context.Context, namespaces []corev1.Namespace, changes map[string]labelChange) (bool, error) {
	var errs []error
	retry := false
	for i := range namespaces {
		ns := &namespaces[i]
		ch, ok := changes[ns.Name]
		if !ok {
			continue
		}
		orig := ns.DeepCopy()
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		for k, v := range ch {
			if v == nil {
				delete(ns.Labels, k)
			} else {
				ns.Labels[k] = *v
			}
		}
		// Optimistic lock: never overwrite a label change made meanwhile.
		err := r.Client.Patch(ctx, ns, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{}))
		switch {
		case apierrors.IsConflict(err):
			retry = true
		case err != nil:
			errs = append(errs, fmt.Errorf("label namespace %s: %w", ns.Name, err))
		}
	}
	return retry, errors.Join(errs...)
}

// finalize removes what has no ownerReference — namespace labels the operator
// added and cluster-scoped objects — then the finalizer.
func (r *MeshControlPlaneReconciler) finalize(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane) error {
	if !controllerutil.ContainsFinalizer(mcp, Finalizer) {
		return nil
	}
	nsList := &corev1.NamespaceList{}
	if err := r.Client.List(ctx, nsList, client.MatchingLabels{meshv1alpha1.LabelMemberOf: membership.Key(mcp)}); err != nil {
		return fmt.Errorf("list member namespaces: %w", err)
	}
	plan := planMembers(mcp, nil, nsList.Items) // deleting: owns nothing
	retry, err := r.applyLabelChanges(ctx, nsList.Items, plan.Changes)
	if err == nil && retry {
		err = errors.New("a member namespace changed meanwhile; retrying")
	}
	errs := []error{err}
	for _, kind := range cp.ClusterKinds() {
		errs = append(errs, r.pruneKind(ctx, kind, map[string]bool{}, func(client.Object) bool { return true },
			client.MatchingLabels{cp.LabelOwnerNamespace: mcp.Namespace, cp.LabelOwnerName: mcp.Name}))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.FromContext(ctx).Info("Removed namespace labels and cluster-scoped objects", "namespaces", len(plan.Changes))
	orig := mcp.DeepCopy()
	controllerutil.RemoveFinalizer(mcp, Finalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, mcp, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})))
}
