// Package virt reconciles VirtualMachineInstances into virt-launcher pods.
package virt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	"virtmesh.io/virtmesh/internal/statuspatch"
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
	// EventWaitingForVolume is recorded when a claim starts keeping the
	// launcher pod from being created, with the VolumesReady reason.
	EventWaitingForVolume = "WaitingForVolume"
)

// VirtualMachineInstanceReconciler runs each VirtualMachineInstance in one
// virt-launcher pod and reports the run in the VMI's status.
//
// The pod is created once. Its name is derived from the VMI's UID
// (launcherpod.PodName), so a repeated create — after a stale cache, a lost
// status patch or an operator restart mid-create — fails with AlreadyExists
// and the existing pod is adopted. Once a pod was created (the status names
// it, or the phase is past Pending) it is never created again: a lost pod
// fails the VMI. The pod carries virtv1alpha1.FinalizerLauncherPod, so it
// cannot vanish before a status naming it has landed, even if the operator
// crashed right after the create (virtualmachineinstance_finalizer.go).
//
// No finalizer on the VMI: deleting a VMI deletes its pod by ownerReference
// garbage collection; the reconciler also deletes (and releases) the pods of
// a missing VMI itself (with the pod's grace period, i.e. the VMI's plus
// podcontract.TerminationGraceMargin) so a cluster without the garbage
// collector (envtest) behaves the same. A VMI finalizer would add nothing
// but VMIs stuck in deletion while the operator is down (its pods do wait
// for the operator to release them).
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
	// VMIPv6 gives VMs IPv6 in dual-stack pods (launcherpod.Options.VMIPv6):
	// only where every kubelet allows the pod sysctl it needs.
	VMIPv6 bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Workers is how many VMIs are reconciled at once (0: 1); main.go
	// passes --vmi-workers (DefaultVMIWorkers).
	Workers int

	// podIndex: the client's cache has indexPodVMI (SetupWithManager);
	// reconcilers built by hand in tests list by label instead.
	podIndex bool

	initOnce sync.Once
	inputs   *meshInputs
	created  createdPods
	written  writtenVMIs
}

// DefaultVMIWorkers is --vmi-workers' default: a reconcile spends its time
// waiting on the API server, so several overlap; see docs/performance.md.
const DefaultVMIWorkers = 8

var _ reconcile.Reconciler = &VirtualMachineInstanceReconciler{}

// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances,verbs=get;list;watch
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances/status,verbs=get;patch
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=persistentvolumeclaims,verbs=get;list;watch
// +kubebuilder:rbac:groups=storage.k8s.io,resources=storageclasses,verbs=get;list;watch
// +kubebuilder:rbac:groups=mesh.virtmesh.io,resources=meshcontrolplanes,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile gets the VMI, makes sure its launcher pod exists (or is gone when
// the VMI is), and patches the status once, only when it changed.
func (r *VirtualMachineInstanceReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	if err := r.Client.Get(ctx, req.NamespacedName, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			r.created.forget(req.NamespacedName)
			r.written.forget(req.NamespacedName)
			return reconcile.Result{}, r.deleteLauncherPods(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	if vmi.DeletionTimestamp != nil {
		// Another party holds a finalizer; the pod goes now all the same.
		return reconcile.Result{}, r.deleteLauncherPods(ctx, req.NamespacedName)
	}

	// The cache may not have our last status patch yet.
	vmi = r.written.newest(vmi)

	obs, result, recErr := r.doReconcile(ctx, vmi)
	now := r.now()
	status := computeStatus(vmi, obs, metav1.NewTime(now.Truncate(time.Second)))
	if wait := holdBack(vmi, &status, obs.Pod, now); wait > 0 {
		// The pod was created or bound a moment ago and usually runs the
		// next moment: write its progress only if it does not.
		result.RequeueAfter = sooner(result.RequeueAfter, wait)
		return result, recErr
	}
	rv := vmi.ResourceVersion
	conflict, statusErr := statuspatch.Patch(ctx, r.Client, vmi, &vmi.Status, status)
	if conflict && result.RequeueAfter == 0 {
		// The VMI changed under us; compute the status again from the new one.
		result.RequeueAfter = time.Second
	}
	var releaseErr error
	if stored := !conflict && statusErr == nil; stored {
		// vmi.Status is now what the API server has.
		if vmi.ResourceVersion != rv {
			r.written.remember(vmi)
		}
		if vmi.Status.LauncherPod != "" {
			r.created.forget(req.NamespacedName) // the status says it now
		}
		if obs.Pod != nil && releasable(vmi, obs.Pod) {
			// The stored status records the terminating pod: it may go.
			releaseErr = r.releasePod(ctx, obs.Pod)
		}
	}
	// controller-runtime logs a returned error and retries with backoff.
	return result, errors.Join(recErr, statusErr, releaseErr)
}

func (r *VirtualMachineInstanceReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// doReconcile observes the launcher pod and creates it when due: only once,
// and only while the VMI has never had one.
func (r *VirtualMachineInstanceReconciler) doReconcile(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance) (observed, reconcile.Result, error) {
	var obs observed
	if errs := validation.IsValidLabelValue(vmi.Name); len(errs) > 0 {
		// Admission rejects such names now; a VMI stored before that can
		// never get a pod (its name labels the pod), and retrying cannot help.
		obs.RenderErr = fmt.Sprintf("the VMI name cannot label its launcher pod (%s): recreate the VMI with a name of at most 63 characters", strings.Join(errs, "; "))
		return obs, reconcile.Result{}, nil
	}
	decision, _, err := r.decide(ctx, r.Client, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	obs.Decision = decision
	obs.Pod, obs.PodLost, err = r.observePod(ctx, vmi)
	if err == nil {
		err = r.observeRun(ctx, vmi, &obs)
	}
	if err != nil || obs.Pod != nil || obs.PodLost || isTerminal(vmi.Status.Phase) {
		return obs, reconcile.Result{}, err
	}
	return r.createLauncherPod(ctx, vmi, obs)
}

// mesh returns the freshness checks and snapshot memo, made on first use
// (tests build reconcilers without SetupWithManager).
func (r *VirtualMachineInstanceReconciler) mesh() *meshInputs {
	r.initOnce.Do(func() { r.inputs = newMeshInputs(r.Client, r.APIReader) })
	return r.inputs
}

// observePod finds the VMI's launcher pod in the cache. When the cache has
// none but one was created before (the status names it, or this process
// created it and the patch saying so has not landed), the API server
// decides: found means the cache lags, missing means the pod is lost. A
// terminal VMI is not looked up.
func (r *VirtualMachineInstanceReconciler) observePod(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance) (pod *corev1.Pod, lost bool, err error) {
	pods, predecessors, err := r.podsOf(ctx, vmi)
	if err == nil && len(predecessors) > 0 {
		// A deleted VMI of the same name left them: they go, as they
		// would had its own reconcile come first.
		err = r.removeLauncherPods(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name}, predecessors)
	}
	if err != nil || len(pods) > 0 {
		return first(pods), false, err
	}
	if isTerminal(vmi.Status.Phase) || !created(vmi) && r.created.get(vmi) == "" {
		return nil, false, nil
	}
	if pod, err = r.livePod(ctx, vmi); err != nil || pod != nil {
		return pod, false, err
	}
	log.FromContext(ctx).Info("Launcher pod lost, failing the VMI", "vmi", klog.KObj(vmi), "pod", klog.KRef(vmi.Namespace, vmi.Status.LauncherPod), "phase", vmi.Status.Phase)
	r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventPodLost, "Fail", "Launcher pod %s was deleted or lost while the VMI was %s; the VMI is not restarted", vmi.Status.LauncherPod, vmi.Status.Phase)
	return nil, true, nil
}

// observeRun notes what the pod alone does not show: that the node it was
// bound to was removed from the cluster (the pod never runs again; pod
// garbage collection deletes it only later), or that the MeshControlPlane
// its proxy belongs to was deleted.
func (r *VirtualMachineInstanceReconciler) observeRun(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance, obs *observed) error {
	if isTerminal(vmi.Status.Phase) {
		return nil
	}
	node := vmi.Status.NodeName
	if obs.Pod != nil {
		node = obs.Pod.Spec.NodeName
		if p := obs.Pod.Status.Phase; p == corev1.PodSucceeded || p == corev1.PodFailed {
			node = "" // the run ended on its own
		}
	}
	if node != "" && (obs.Pod != nil || obs.PodLost) {
		gone, err := r.nodeGone(ctx, node)
		if err != nil {
			return err
		}
		if gone {
			obs.LostNode = node
		}
	}
	if obs.Pod != nil && enrolledPod(obs.Pod) {
		ns, name, _ := strings.Cut(obs.Pod.Annotations[launcherpod.AnnotationMeshControlPlane], "/")
		mcp := &meshv1alpha1.MeshControlPlane{}
		switch err := r.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, mcp); {
		case apierrors.IsNotFound(err):
			obs.ControlPlaneGone = ns + "/" + name
		case err != nil:
			return fmt.Errorf("get MeshControlPlane %s/%s: %w", ns, name, err)
		case mcp.DeletionTimestamp != nil:
			obs.ControlPlaneGone = ns + "/" + name
		}
	}
	return nil
}

// nodeGone reports whether node no longer exists: the cache (node metadata)
// says so and the API server confirms, as the cache may not have a node that
// joined a moment ago.
func (r *VirtualMachineInstanceReconciler) nodeGone(ctx context.Context, name string) (bool, error) {
	node := &metav1.PartialObjectMetadata{}
	node.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Node"))
	key := types.NamespacedName{Name: name}
	if err := r.Client.Get(ctx, key, node); !apierrors.IsNotFound(err) {
		return false, err
	}
	switch err := r.APIReader.Get(ctx, key, node); {
	case apierrors.IsNotFound(err):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("get node %s: %w", name, err)
	}
	return false, nil
}

func first(pods []*corev1.Pod) *corev1.Pod {
	if len(pods) == 0 {
		return nil
	}
	return pods[0]
}

// createLauncherPod creates the pod, once. The VMI's claims come first
// (read from the API server; only VMIs with claims read any): without them
// there is nothing to run. What decides enrollment must be at least as new
// as the VMI: a VMI applied together with its MeshControlPlane and member
// namespace can reach us before the cache has either, and deciding from
// such a cache would run it outside the mesh for good. So the cache decides
// only once meshInputs proved it fresh enough (one check serves a burst of
// VMIs); otherwise the API server does.
func (r *VirtualMachineInstanceReconciler) createLauncherPod(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance, obs observed) (observed, reconcile.Result, error) {
	claims, wait, err := resolveClaims(ctx, r.APIReader, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	if wait != nil {
		// The PersistentVolumeClaim and StorageClass watches bring the VMI
		// back when the claim appears or binds.
		obs.VolumesWait = wait
		r.waitingForVolume(ctx, vmi, wait)
		return obs, reconcile.Result{}, nil
	}
	obs.ClaimsResolved = true
	// Decided again rather than reusing doReconcile's decision: the check
	// proves the cache as it is after the check, not as it was read before.
	reader := r.APIReader
	if r.mesh().cacheFresh(ctx, vmi) {
		reader = r.Client
	}
	decision, mcp, err := r.decide(ctx, reader, vmi)
	if err != nil {
		return obs, reconcile.Result{}, err
	}
	obs.Decision = decision
	if decision.Unresolved() {
		// The namespace (or the VMI) asks for the mesh but no single control
		// plane answers: wait rather than run the VM outside the mesh.
		// Namespace and MeshControlPlane watches bring it back.
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
			log.FromContext(ctx).V(1).Info("Waiting for the mesh injection snapshot", "vmi", klog.KObj(vmi), "meshControlPlane", klog.KObj(mcp))
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

	// No list of pods before the create: the cache had none, and a pod the
	// cache has not seen yet has the same UID-derived name, so the create
	// fails with AlreadyExists and create adopts it.
	pod, err := launcherpod.RenderLauncherPod(vmi, settings, launcherpod.Options{LauncherImage: r.LauncherImage, KVMResource: r.KVMResource, VMIPv6: r.VMIPv6, Claims: claims})
	if err != nil {
		// Not retried: the spec is immutable and annotation or mesh changes
		// bring the VMI back through the watches.
		obs.RenderErr = err.Error()
		r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventRenderFailed, "Render", "Cannot render the launcher pod: %v", err)
		return obs, reconcile.Result{}, nil
	}
	return r.create(ctx, vmi, pod, obs)
}

// waitingForVolume logs the wait and, when the reason is new, records it as
// an Event: kubectl describe shows why the VM does not start.
func (r *VirtualMachineInstanceReconciler) waitingForVolume(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance, wait *volumesWait) {
	log.FromContext(ctx).V(1).Info("Waiting for a PersistentVolumeClaim", "vmi", klog.KObj(vmi), "persistentVolumeClaim", klog.KRef(vmi.Namespace, wait.Claim), "reason", wait.Reason)
	if c := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionVolumesReady); c == nil || c.Reason != wait.Reason {
		r.Recorder.Eventf(vmi, nil, corev1.EventTypeWarning, EventWaitingForVolume, "Wait", "%s: %s", wait.Reason, wait.Message)
	}
}

// create creates the rendered pod. AlreadyExists adopts the VMI's own pod
// (a repeated create after a lost status patch or a restart: the name is
// derived from the VMI's UID); refusals that retrying cannot fix are
// reported, not retried.
func (r *VirtualMachineInstanceReconciler) create(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance, pod *corev1.Pod, obs observed) (observed, reconcile.Result, error) {
	logger := log.FromContext(ctx)
	err := r.Client.Create(ctx, pod)
	switch {
	case err == nil:
		logger.Info("Created launcher pod", "vmi", klog.KObj(vmi), "pod", klog.KObj(pod), "enrolled", pod.Annotations[launcherpod.AnnotationMeshControlPlane] != "")
		r.Recorder.Eventf(vmi, pod, corev1.EventTypeNormal, EventCreated, "Create", "Created launcher pod %s", pod.Name)
		r.created.add(vmi, pod.Name)
		obs.Pod = pod
		return obs, reconcile.Result{}, nil
	case apierrors.IsAlreadyExists(err):
		existing, getErr := r.livePod(ctx, vmi)
		if getErr != nil {
			return obs, reconcile.Result{}, getErr
		}
		if existing != nil {
			logger.Info("Launcher pod already exists, adopting it", "vmi", klog.KObj(vmi), "pod", klog.KObj(existing))
			r.created.add(vmi, existing.Name)
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
func (r *VirtualMachineInstanceReconciler) podsOf(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance) (own, predecessors []*corev1.Pod, err error) {
	list, err := r.launcherPods(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name})
	if err != nil {
		return nil, nil, err
	}
	for i := range list.Items {
		switch ref := metav1.GetControllerOf(&list.Items[i]); {
		case ref == nil:
		case ref.UID == vmi.UID:
			own = append(own, &list.Items[i])
		case isVMIRef(ref):
			predecessors = append(predecessors, &list.Items[i])
		}
	}
	return own, predecessors, nil
}

// launcherPods lists the pods labelled for the VMI key, through the cache's
// index when there is one.
func (r *VirtualMachineInstanceReconciler) launcherPods(ctx context.Context, key types.NamespacedName) (*corev1.PodList, error) {
	match := client.ListOption(client.MatchingLabels{virtv1alpha1.LabelVMI: key.Name})
	if r.podIndex {
		match = client.MatchingFields{indexPodVMI: key.Name}
	}
	list := &corev1.PodList{}
	if err := r.Client.List(ctx, list, client.InNamespace(key.Namespace), match); err != nil {
		return nil, fmt.Errorf("list launcher pods: %w", err)
	}
	return list, nil
}

// isVMIRef reports whether ref names a VirtualMachineInstance of ours.
func isVMIRef(ref *metav1.OwnerReference) bool {
	return ref.Kind == "VirtualMachineInstance" && ref.APIVersion == virtv1alpha1.GroupVersion.String()
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

// settings returns the control plane's published injection snapshot
// (read from the API server once per snapshot: snapshots are immutable, and
// caching every ConfigMap of the cluster is not worth it). waiting is
// non-empty when there is none yet.
func (r *VirtualMachineInstanceReconciler) settings(ctx context.Context, mcp *meshv1alpha1.MeshControlPlane) (*injection.Settings, string, error) {
	name := mcp.Status.InjectionSnapshot
	if name == "" {
		return nil, fmt.Sprintf("MeshControlPlane %s/%s has not published its injection settings yet; the launcher pod is created once it does", mcp.Namespace, mcp.Name), nil
	}
	return r.mesh().snapshot(ctx, types.NamespacedName{Namespace: mcp.Namespace, Name: name}, mcp.Name)
}

// deleteLauncherPods deletes the launcher pods of the deleted VMI key (any
// VMI of that name: none exists any more), with their own grace period (the
// VMI's plus the launcher's margin), and releases them.
func (r *VirtualMachineInstanceReconciler) deleteLauncherPods(ctx context.Context, key types.NamespacedName) error {
	list, err := r.launcherPods(ctx, key)
	if err != nil {
		return err
	}
	var pods []*corev1.Pod
	for i := range list.Items {
		if ref := metav1.GetControllerOf(&list.Items[i]); ref != nil && isVMIRef(ref) {
			pods = append(pods, &list.Items[i])
		}
	}
	return r.removeLauncherPods(ctx, key, pods)
}

// removeLauncherPods deletes pods whose VMI is gone and takes our finalizer
// off them: no status is left to record them in. The finalizer goes first,
// so the pod terminates as any pod does (the kubelet's grace period still
// applies); a pod already terminating is only released.
func (r *VirtualMachineInstanceReconciler) removeLauncherPods(ctx context.Context, key types.NamespacedName, pods []*corev1.Pod) error {
	logger := log.FromContext(ctx)
	var errs []error
	for _, pod := range pods {
		if err := r.releasePod(ctx, pod); err != nil {
			errs = append(errs, err)
			continue
		}
		if pod.DeletionTimestamp != nil {
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
