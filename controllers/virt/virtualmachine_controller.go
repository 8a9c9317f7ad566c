package virt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/statuspatch"
)

// VMControllerName names the VirtualMachine controller, its events and metrics.
const VMControllerName = "virtualmachine-controller"

// VirtualMachine event reasons.
const (
	EventStarted  = "Started"
	EventStopping = "Stopping"
	EventBackOff  = "CrashLoopBackOff"
)

// VirtualMachineReconciler keeps each VirtualMachine's runs going according
// to its runStrategy (planVM). A run is a VirtualMachineInstance named like
// the VM and controlled by it; a run is never changed, only stopped (its VMI
// deleted, which shuts the guest down within its grace period) and followed
// by a new one.
type VirtualMachineReconciler struct {
	Client client.Client
	// Recorder records Events; SetupWithManager fills it when nil.
	Recorder events.EventRecorder
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

var _ reconcile.Reconciler = &VirtualMachineReconciler{}

// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachines,verbs=get;list;watch
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachines/status,verbs=get;patch
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachines/finalizers,verbs=update
// +kubebuilder:rbac:groups=virt.virtmesh.io,resources=virtualmachineinstances,verbs=get;list;watch;create;delete

// Reconcile gets the VM, plans from it and its current run (planVM), acts,
// and patches the status once, only when it changed.
func (r *VirtualMachineReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	vm := &virtv1alpha1.VirtualMachine{}
	if err := r.Client.Get(ctx, req.NamespacedName, vm); err != nil {
		if apierrors.IsNotFound(err) {
			// Garbage collection deletes the runs of a deleted VM; do it
			// here too, for clusters without it (envtest).
			return reconcile.Result{}, r.deleteOrphans(ctx, req.NamespacedName)
		}
		return reconcile.Result{}, err
	}
	now := r.now()
	obs, plan, recErr := r.doReconcile(ctx, vm, now)
	status := computeVMStatus(vm, obs, plan, metav1.NewTime(now.Truncate(time.Second)))
	conflict, statusErr := statuspatch.Patch(ctx, r.Client, vm, &vm.Status, status)
	var result reconcile.Result
	switch {
	case conflict:
		result.RequeueAfter = time.Second
	case plan.Action == actWait && !plan.RetryAt.IsZero():
		result.RequeueAfter = plan.RetryAt.Sub(now) + 100*time.Millisecond
	}
	return result, errors.Join(recErr, statusErr)
}

func (r *VirtualMachineReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// doReconcile observes the VM's run, plans and carries the plan out.
func (r *VirtualMachineReconciler) doReconcile(ctx context.Context, vm *virtv1alpha1.VirtualMachine, now time.Time) (vmObservation, vmPlan, error) {
	obs, err := r.observe(ctx, vm)
	if err != nil {
		return obs, vmPlan{StartFailure: vm.Status.StartFailure}, err
	}
	plan := planVM(vm, obs, now)
	log.FromContext(ctx).V(1).Info("Planned", "vm", klog.KObj(vm), "action", plan.Action, "why", plan.Why, "podsRemain", obs.PodsRemain)
	switch plan.Action {
	case actCreate:
		err = r.start(ctx, vm, plan.RestartHandled, &obs)
	case actStop:
		err = r.stop(ctx, vm, plan.Why, &obs)
	case actWait:
		if !plan.RetryAt.IsZero() && obs.VMI != nil && obs.VMI.Status.Phase == virtv1alpha1.Failed {
			r.Recorder.Eventf(vm, obs.VMI, corev1.EventTypeWarning, EventBackOff, "Wait", "Run %s failed; the next run starts at %s", obs.VMI.UID, plan.RetryAt.UTC().Format(time.RFC3339))
		}
	}
	if err == nil {
		obs.RestartHandled = plan.RestartHandled
	}
	return obs, plan, err
}

// observe reads the VM's VMI and whether a previous run's pod remains.
func (r *VirtualMachineReconciler) observe(ctx context.Context, vm *virtv1alpha1.VirtualMachine) (vmObservation, error) {
	var obs vmObservation
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(vm), vmi)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return obs, fmt.Errorf("get VMI: %w", err)
	case metav1.IsControlledBy(vmi, vm):
		obs.VMI = vmi
	default:
		obs.Foreign = vmi
	}
	if obs.VMI == nil && obs.Foreign == nil {
		var pods corev1.PodList
		if err := r.Client.List(ctx, &pods, client.InNamespace(vm.Namespace), client.MatchingLabels{virtv1alpha1.LabelVMI: vm.Name}); err != nil {
			return obs, fmt.Errorf("list launcher pods: %w", err)
		}
		obs.PodsRemain = len(pods.Items) > 0
	}
	return obs, nil
}

// start creates the VMI of a new run from the template.
func (r *VirtualMachineReconciler) start(ctx context.Context, vm *virtv1alpha1.VirtualMachine, restart string, obs *vmObservation) error {
	vmi, err := vmiFor(vm, restart)
	if err != nil {
		obs.Err = err.Error()
		return nil
	}
	if err := r.Client.Create(ctx, vmi); err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			// The template is admitted with the VM, so this is rare (a
			// quota, a policy); retrying the same VMI cannot help.
			obs.Err = fmt.Sprintf("cannot start a run: %v", err)
			return nil
		}
		return fmt.Errorf("create VMI: %w", err)
	}
	log.FromContext(ctx).Info("Started a run", "vm", klog.KObj(vm), "vmi", klog.KObj(vmi), "vmiUID", vmi.UID)
	r.Recorder.Eventf(vm, vmi, corev1.EventTypeNormal, EventStarted, "Start", "Started VirtualMachineInstance %s (runStrategy %s)", vmi.Name, runStrategy(vm))
	obs.Created = vmi
	obs.VMI = vmi
	return nil
}

// stop deletes the current run's VMI. Its launcher pod is deleted with the
// VMI's grace period, so the guest gets its ACPI power-down.
func (r *VirtualMachineReconciler) stop(ctx context.Context, vm *virtv1alpha1.VirtualMachine, why string, obs *vmObservation) error {
	vmi := obs.VMI
	err := r.Client.Delete(ctx, vmi, client.Preconditions{UID: &vmi.UID}, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete VMI: %w", err)
	}
	log.FromContext(ctx).Info("Stopping the run", "vm", klog.KObj(vm), "vmi", klog.KObj(vmi), "why", why)
	r.Recorder.Eventf(vm, vmi, corev1.EventTypeNormal, EventStopping, "Stop", "Stopping VirtualMachineInstance %s: %s", vmi.Name, why)
	obs.Stopped = true
	return nil
}

// deleteOrphans deletes the VMIs a deleted VM controlled.
func (r *VirtualMachineReconciler) deleteOrphans(ctx context.Context, key types.NamespacedName) error {
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	if err := r.Client.Get(ctx, key, vmi); err != nil {
		return client.IgnoreNotFound(err)
	}
	ref := metav1.GetControllerOf(vmi)
	if ref == nil || ref.Kind != "VirtualMachine" || ref.APIVersion != virtv1alpha1.GroupVersion.String() || vmi.DeletionTimestamp != nil {
		return nil
	}
	return client.IgnoreNotFound(r.Client.Delete(ctx, vmi, client.Preconditions{UID: &vmi.UID}))
}

// vmiFor is the VMI of a new run: the template, named like the VM and
// controlled by it, labelled with the VM's name and annotated with the
// template's hash, and with the restart request it answers (if any), so a
// reconcile that reads the VM from a stale cache does not answer it twice.
// A template without firmware.uuid gets one derived from
// the VM's UID, so the guest keeps its SMBIOS identity (and cloud-init its
// instance id) across runs, as with KubeVirt.
func vmiFor(vm *virtv1alpha1.VirtualMachine, restart string) (*virtv1alpha1.VirtualMachineInstance, error) {
	hash, err := templateHash(vm)
	if err != nil {
		return nil, err
	}
	t := vm.Spec.Template.DeepCopy()
	labels := map[string]string{}
	for k, v := range t.ObjectMeta.Labels {
		labels[k] = v
	}
	labels[virtv1alpha1.LabelVM] = vm.Name
	annotations := map[string]string{}
	for k, v := range t.ObjectMeta.Annotations {
		annotations[k] = v
	}
	annotations[virtv1alpha1.AnnotationTemplateHash] = hash
	delete(annotations, virtv1alpha1.AnnotationRestartRequestedAt)
	if restart != "" {
		annotations[virtv1alpha1.AnnotationRestartRequestedAt] = restart
	}
	spec := t.Spec
	if spec.Domain.Firmware == nil {
		spec.Domain.Firmware = &virtv1alpha1.Firmware{}
	}
	if spec.Domain.Firmware.UUID == "" {
		spec.Domain.Firmware.UUID = uuid.NewSHA1(uuid.NameSpaceOID, []byte("virtmesh.io/vm/"+string(vm.UID))).String()
	}
	return &virtv1alpha1.VirtualMachineInstance{
		TypeMeta: metav1.TypeMeta{APIVersion: virtv1alpha1.GroupVersion.String(), Kind: "VirtualMachineInstance"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        vm.Name,
			Namespace:   vm.Namespace,
			Labels:      labels,
			Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         virtv1alpha1.GroupVersion.String(),
				Kind:               "VirtualMachine",
				Name:               vm.Name,
				UID:                vm.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: spec,
	}, nil
}

// templateHash identifies the VM's template (metadata and spec).
func templateHash(vm *virtv1alpha1.VirtualMachine) (string, error) {
	b, err := json.Marshal(vm.Spec.Template)
	if err != nil {
		return "", fmt.Errorf("hash the template: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16], nil
}
