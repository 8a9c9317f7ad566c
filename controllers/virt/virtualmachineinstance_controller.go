// Package virt reconciles VirtualMachineInstances into virt-launcher pods.
package virt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/membership"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
)

// ControllerName names the controller, its field manager and its events.
const ControllerName = "virtualmachineinstance-controller"

// snapshotRetry is how soon a VMI whose control plane names a snapshot the
// API server does not have yet (it is being published) is looked at again.
const snapshotRetry = 5 * time.Second

// Event reasons.
const (
	EventCreated      = "Created"
	EventFailedCreate = "FailedCreate"
	EventDeleted      = "Deleted"
	EventPodLost      = "PodLost"
	EventRenderFailed = "RenderFailed"
)

// VirtualMachineInstanceReconciler runs each VirtualMachineInstance in one
// virt-launcher pod and reports the run in the VMI's status.
//
// The pod is created once. Its name is derived from the VMI's UID
// (launcherpod.PodName), so a repeated create — after a stale cache, a lost
// status patch or an operator restart mid-create — fails with AlreadyExists
// and the existing pod is adopted; before creating, the API server (not the
// cache) is asked for pods of the VMI. Once a pod was created (the status
// names it, or the phase is past Pending) it is never created again: a lost
// pod fails the VMI.
//
// No finalizer: deleting a VMI deletes its pod by ownerReference garbage
// collection; the reconciler also deletes the pods of a missing VMI itself
// (with the pod's grace period, i.e. the VMI's plus podcontract.TerminationGraceMargin)
// so a cluster without the garbage collector (envtest) behaves the same. A
// finalizer would add nothing but VMIs stuck in deletion while the operator
// is down.
type VirtualMachineInstanceReconciler struct {
	Client client.Client
	Scheme *runtime.Scheme
	// Recorder records Events; SetupWithManager fills it when nil.
	Recorder events.EventRecorder
	// APIReader reads from the API server, bypassing the cache, before a pod
	// is created; SetupWithManager fills it with mgr.GetAPIReader() when nil.
	APIReader client.Reader
	// LauncherImage is the VirtMesh launcher image (RELATED_IMAGE_LAUNCHER).
	LauncherImage string
	// KVMResource, when set, is the device-plugin resource compute requests
	// for /dev/kvm (e.g. devices.kubevirt.io/kvm).
	KVMResource corev1.ResourceName
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ reconcile.Reconciler = &VirtualMachineInstanceReconciler{}

// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances/status,verbs=get;patch
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups=mesh.virtmesh.io,resources=meshcontrolplanes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile gets the VMI, makes sure its launcher pod exists (or is gone when
// the VMI is), and patches the status once, only when it changed.
func (r *VirtualMachineInstanceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	if err := r.Client.Get(ctx, req.NamespacedName, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			return reconcile.Result{}, r.deleteLauncherPods(ctx, req.NamespacedName, "")
		}
		return reconcile.Result{}, err
	}
	if vmi.DeletionTimestamp != nil {
		// Another party holds a finalizer; the pod goes now all the same.
		return reconcile.Result{}, r.deleteLauncherPods(ctx, req.NamespacedName, "")
	}

	obs, result, recErr := r.doReconcile(ctx, vmi)
	status := computeStatus(vmi, obs, metav1.NewTime(r.now().Truncate(time.Second)))
	conflict, statusErr := r.patchStatus(ctx, vmi, status)
	if conflict && result.RequeueAfter == 0 {
		// The VMI changed under us; compute the status again from the new one.
		result.RequeueAfter = time.Second
	}
	// controller-runtime logs a returned error and retries with backoff.
	return result, errors.Join(recErr, statusErr)
}

func (r *VirtualMachineInstanceReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// doReconcile observes the launcher pod and creates it when due.
func (r *VirtualMachineInstanceReconciler) doReconcile(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance) (observed, reconcile.Result, error) {
	logger := log.FromContext(ctx)
	var obs observed

	decision, mcp, err := r.decide(ctx, r.Client, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	obs.Decision = decision

	pods, err := r.podsOf(ctx, r.Client, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	if len(pods) > 0 {
		obs.Pod = pods[0]
		return obs, reconcile.Result{}, nil
	}
	if isTerminal(vmi.Status.Phase) {
		return obs, reconcile.Result{}, nil
	}

	// The cache has no pod. If one was created before, confirm with the API
	// server: found means the cache lags, missing means the pod is lost.
	if created(vmi) {
		pod, err := r.livePod(ctx, vmi)
		if err != nil {
			return obs, reconcile.Result{}, err
		}
		if pod != nil {
			obs.Pod = pod
			return obs, reconcile.Result{}, nil
		}
		obs.PodLost = true
		logger.Info("Launcher pod lost, failing the VMI", "vmi", klog.KObj(vmi), "pod", klog.KRef(vmi.Namespace, vmi.Status.LauncherPod), "phase", vmi.Status.Phase)
		r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventPodLost, "Fail", "Launcher pod %s was deleted or lost while the VMI was %s; the VMI is not restarted", vmi.Status.LauncherPod, vmi.Status.Phase)
		return obs, reconcile.Result{}, nil
	}

	// The pod is about to be created, and only once: decide again from the
	// API server. A VMI applied together with its MeshControlPlane and member
	// namespace can reach us before the cache has either; deciding from the
	// cache would run it outside the mesh for good.
	decision, mcp, err = r.decide(ctx, r.APIReader, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	obs.Decision = decision

	if decision.Unresolved() {
		// The namespace (or the VMI) asks for the mesh but no single control
		// plane answers: wait rather than run the VM outside the mesh. Namespace
		// and MeshControlPlane watches bring it back.
		obs.Waiting = decision.Message + "; the launcher pod is created once exactly one MeshControlPlane matches"
		return obs, reconcile.Result{}, nil
	}
	var settings *injection.Settings
	if decision.Enrolled {
		s, waiting, err := r.settings(ctx, mcp)
		if err != nil {
			return obs, reconcile.Result{}, err
		}
		if waiting != "" {
			obs.Waiting = waiting
			logger.V(1).Info("Waiting for the mesh injection snapshot", "vmi", klog.KObj(vmi), "meshControlPlane", klog.KObj(mcp))
			// The MeshControlPlane watch brings the VMI back when the
			// snapshot is published; retry only when the status names one
			// the API server does not have yet.
			if mcp.Status.InjectionSnapshot != "" {
				return obs, reconcile.Result{RequeueAfter: snapshotRetry}, nil
			}
			return obs, reconcile.Result{}, nil
		}
		settings = s
	}

	// Last check against the API server, not the cache, before creating.
	pods, err = r.podsOf(ctx, r.APIReader, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	if len(pods) > 0 {
		obs.Pod = pods[0]
		return obs, reconcile.Result{}, nil
	}

	pod, err := launcherpod.RenderLauncherPod(vmi, settings, launcherpod.Options{LauncherImage: r.LauncherImage, KVMResource: r.KVMResource})
	if err != nil {
		// Not retried: the spec is immutable and annotation or mesh changes
		// bring the VMI back through the watches.
		obs.RenderErr = err.Error()
		r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventRenderFailed, "Render", "Cannot render the launcher pod: %v", err)
		return obs, reconcile.Result{}, nil
	}
	if err := r.Client.Create(ctx, pod); err != nil {
		if apierrors.IsAlreadyExists(err) {
			existing, getErr := r.livePod(ctx, vmi)
			if getErr != nil {
				return obs, reconcile.Result{}, getErr
			}
			if existing != nil {
				logger.Info("Launcher pod already exists, adopting it", "vmi", klog.KObj(vmi), "pod", klog.KObj(existing))
				obs.Pod = existing
				return obs, reconcile.Result{}, nil
			}
			err = fmt.Errorf("pod name %s is taken by a pod that does not belong to this VMI: %w", pod.Name, err)
			obs.RenderErr = err.Error()
			r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventFailedCreate, "Create", "Cannot create launcher pod: %v", err)
			return obs, reconcile.Result{}, nil
		}
		r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventFailedCreate, "Create", "Cannot create launcher pod %s: %v", pod.Name, err)
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) && !isQuota(err) {
			// The API server refuses this pod; retrying the same pod cannot
			// help. A change to the VMI or the mesh brings it back.
			obs.RenderErr = err.Error()
			return obs, reconcile.Result{}, nil
		}
		return obs, reconcile.Result{}, fmt.Errorf("create launcher pod %s: %w", pod.Name, err)
	}
	logger.Info("Created launcher pod", "vmi", klog.KObj(vmi), "pod", klog.KObj(pod), "enrolled", settings != nil)
	r.Recorder.Eventf(vmi, pod, corev1.EventTypeNormal, EventCreated, "Create", "Created launcher pod %s", pod.Name)
	obs.Pod = pod
	return obs, reconcile.Result{}, nil
}

// isQuota reports a quota refusal, which clears up by itself and is retried.
func isQuota(err error) bool {
	return strings.Contains(err.Error(), "exceeded quota")
}

// created reports whether a launcher pod was created for vmi before.
func created(vmi *virtv1alpha1.VirtualMachineInstance) bool {
	if vmi.Status.LauncherPod != "" {
		return true
	}
	switch vmi.Status.Phase {
	case virtv1alpha1.Scheduling, virtv1alpha1.Scheduled, virtv1alpha1.Running, virtv1alpha1.Unknown:
		return true
	}
	return false
}

// podsOf lists the launcher pods the VMI controls (by label, then by the
// controller reference's UID, so a predecessor VMI of the same name does not
// count).
func (r *VirtualMachineInstanceReconciler) podsOf(ctx context.Context, reader client.Reader, vmi *virtv1alpha1.VirtualMachineInstance) ([]*corev1.Pod, error) {
	var list corev1.PodList
	if err := reader.List(ctx, &list, client.InNamespace(vmi.Namespace), client.MatchingLabels{virtv1alpha1.LabelVMI: vmi.Name}); err != nil {
		return nil, fmt.Errorf("list launcher pods: %w", err)
	}
	var out []*corev1.Pod
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && ref.UID == vmi.UID {
			out = append(out, &list.Items[i])
		}
	}
	return out, nil
}

// livePod gets the VMI's pod from the API server; nil when it does not exist
// or belongs to someone else.
func (r *VirtualMachineInstanceReconciler) livePod(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance) (*corev1.Pod, error) {
	name := vmi.Status.LauncherPod
	if name == "" {
		name = launcherpod.PodName(vmi)
	}
	pod := &corev1.Pod{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: name}, pod); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get launcher pod %s: %w", name, err)
	}
	if ref := metav1.GetControllerOf(pod); ref == nil || ref.UID != vmi.UID {
		return nil, nil
	}
	return pod, nil
}

// decide evaluates mesh enrollment from the namespace and the control planes
// that reader (the cache, or the API server before a pod is created) has.
func (r *VirtualMachineInstanceReconciler) decide(ctx context.Context, reader client.Reader, vmi *virtv1alpha1.VirtualMachineInstance) (enrollment.Decision, *meshv1alpha1.MeshControlPlane, error) {
	ns := &corev1.Namespace{}
	if err := reader.Get(ctx, types.NamespacedName{Name: vmi.Namespace}, ns); err != nil {
		if !apierrors.IsNotFound(err) {
			return enrollment.Decision{}, nil, fmt.Errorf("get namespace %s: %w", vmi.Namespace, err)
		}
		ns = nil
	}
	var mcps meshv1alpha1.MeshControlPlaneList
	if err := reader.List(ctx, &mcps); err != nil {
		return enrollment.Decision{}, nil, fmt.Errorf("list MeshControlPlanes: %w", err)
	}
	d := enrollment.Decide(vmi, ns, mcps.Items)
	for i := range mcps.Items {
		if d.Enrolled && mcps.Items[i].Namespace == d.ControlPlane.Namespace && mcps.Items[i].Name == d.ControlPlane.Name {
			return d, &mcps.Items[i], nil
		}
	}
	return d, nil, nil
}

// settings reads the control plane's published injection snapshot (from the
// API server: snapshots are read once per pod, not worth caching every
// ConfigMap). waiting is non-empty when there is none yet.
func (r *VirtualMachineInstanceReconciler) settings(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane) (*injection.Settings, string, error) {
	name := mcp.Status.InjectionSnapshot
	if name == "" {
		return nil, fmt.Sprintf("MeshControlPlane %s/%s has not published its injection settings yet; the launcher pod is created once it does", mcp.Namespace, mcp.Name), nil
	}
	cm := &corev1.ConfigMap{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: mcp.Namespace, Name: name}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("MeshControlPlane %s/%s names injection snapshot %s, which does not exist yet; the launcher pod is created once it does", mcp.Namespace, mcp.Name, name), nil
		}
		return nil, "", fmt.Errorf("get injection snapshot %s/%s: %w", mcp.Namespace, name, err)
	}
	s, err := injection.FromSnapshot(cm)
	if err != nil {
		return nil, fmt.Sprintf("injection snapshot %s/%s of MeshControlPlane %s is unreadable: %v", mcp.Namespace, name, mcp.Name, err), nil
	}
	return &s, "", nil
}

// deleteLauncherPods deletes the launcher pods labelled for the VMI key
// whose controller is a VirtualMachineInstance other than keepUID, with their
// own grace period (the VMI's plus the launcher's margin).
func (r *VirtualMachineInstanceReconciler) deleteLauncherPods(ctx context.Context, key types.NamespacedName, keepUID types.UID) error {
	logger := log.FromContext(ctx)
	var list corev1.PodList
	if err := r.Client.List(ctx, &list, client.InNamespace(key.Namespace), client.MatchingLabels{virtv1alpha1.LabelVMI: key.Name}); err != nil {
		return fmt.Errorf("list launcher pods: %w", err)
	}
	var errs []error
	for i := range list.Items {
		pod := &list.Items[i]
		ref := metav1.GetControllerOf(pod)
		if ref == nil || ref.Kind != "VirtualMachineInstance" || ref.APIVersion != virtv1alpha1.GroupVersion.String() || ref.UID == keepUID || pod.DeletionTimestamp != nil {
			continue
		}
		opts := []client.DeleteOption{client.Preconditions{UID: &pod.UID}}
		if pod.Spec.TerminationGracePeriodSeconds != nil {
			opts = append(opts, client.GracePeriodSeconds(*pod.Spec.TerminationGracePeriodSeconds))
		}
		if err := r.Client.Delete(ctx, pod, opts...); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete launcher pod %s: %w", pod.Name, err))
			continue
		}
		logger.Info("Deleted launcher pod of a deleted VMI", "vmi", klog.KRef(key.Namespace, key.Name), "pod", klog.KObj(pod))
		r.Recorder.Eventf(pod, nil, corev1.EventTypeNormal, EventDeleted, "Delete", "Deleted launcher pod %s: VirtualMachineInstance %s was deleted", pod.Name, key.Name)
	}
	return errors.Join(errs...)
}

// patchStatus patches the status subresource once, only when it changed,
// with an optimistic lock so a status computed from a stale VMI never lands;
// conflict reports that it did not.
func (r *VirtualMachineInstanceReconciler) patchStatus(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance, status virtv1alpha1.VirtualMachineInstanceStatus) (conflict bool, err error) {
	if equality.Semantic.DeepEqual(vmi.Status, status) {
		return false, nil
	}
	patch := client.MergeFromWithOptions(vmi.DeepCopy(), client.MergeFromWithOptimisticLock{})
	vmi.Status = status
	if err := r.Client.Status().Patch(ctx, vmi, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if apierrors.IsConflict(err) {
			return true, nil
		}
		return false, fmt.Errorf("patch status: %w", err)
	}
	log.FromContext(ctx).V(1).Info("Patched status", "vmi", klog.KObj(vmi), "phase", status.Phase)
	return false, nil
}

// LauncherPodSelector selects launcher pods. main.go should restrict the
// manager's Pod cache with it (cache.Options.ByObject), so the operator caches
// its own pods only:
//
//	cache.ByObject{Label: virt.LauncherPodSelector(), Transform: cache.TransformStripManagedFields()}
func LauncherPodSelector() labels.Selector {
	req, err := labels.NewRequirement(virtv1alpha1.LabelVMI, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key
	}
	return labels.NewSelector().Add(*req)
}

// SetupWithManager registers the controller: VMIs, their pods, and the
// namespaces and control planes that decide mesh enrollment.
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
		Complete(rec)
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
