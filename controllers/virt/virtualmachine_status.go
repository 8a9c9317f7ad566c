package virt

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// mirroredConditions are the current VMI's conditions a VirtualMachine
// shows as they are.
var mirroredConditions = []string{virtv1alpha1.ConditionPodScheduled, virtv1alpha1.ConditionMeshEnrolled, virtv1alpha1.ConditionProxyReady, virtv1alpha1.ConditionVolumesReady}

// vmConditionInput is what every VirtualMachine condition setter reads.
type vmConditionInput struct {
	vmObservation
	plan       vmPlan
	printable  virtv1alpha1.VirtualMachinePrintableStatus
	strategy   virtv1alpha1.RunStrategy
	hash       string
	generation int64
	now        metav1.Time
}

func (in vmConditionInput) set(conds *[]metav1.Condition, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: in.generation, LastTransitionTime: in.now})
}

// computeVMStatus is pure: the VM's next status from its current one, what
// was observed and the plan carried out.
func computeVMStatus(vm *virtv1alpha1.VirtualMachine, obs vmObservation, plan vmPlan, now metav1.Time) virtv1alpha1.VirtualMachineStatus {
	st := *vm.Status.DeepCopy()
	st.ObservedGeneration = vm.Generation
	st.RunStrategy = runStrategy(vm)
	st.StartFailure = plan.StartFailure
	if obs.RestartHandled != "" {
		st.RestartRequestHandled = obs.RestartHandled
	}
	if obs.Created != nil {
		st.DesiredGeneration = vm.Generation
	}
	vmi := obs.VMI
	if obs.Stopped {
		vmi = nil
	}
	st.Created = vmi != nil
	st.Ready = vmi != nil && isReady(vmi)
	hash, _ := templateHash(vm)
	in := vmConditionInput{vmObservation: obs, plan: plan, strategy: st.RunStrategy, hash: hash, generation: vm.Generation, now: now}
	in.VMI = vmi
	in.printable = printableStatus(vm, in)
	st.PrintableStatus = in.printable
	for _, set := range []func(*[]metav1.Condition, vmConditionInput){setVMReady, setVMFailure, setVMRestartRequired, setVMMirrored} {
		set(&st.Conditions, in)
	}
	return st
}

// printableStatus is KubeVirt's one-word summary.
func printableStatus(vm *virtv1alpha1.VirtualMachine, in vmConditionInput) virtv1alpha1.VirtualMachinePrintableStatus {
	vmi := in.VMI
	switch {
	case vm.DeletionTimestamp != nil:
		return virtv1alpha1.PrintableTerminating
	case in.Stopped, vmi != nil && vmi.DeletionTimestamp != nil, vmi == nil && in.PodsRemain:
		return virtv1alpha1.PrintableStopping
	case in.plan.Action == actWait && !in.plan.RetryAt.IsZero():
		return virtv1alpha1.PrintableCrashLoopBackOff
	case in.Foreign != nil:
		return virtv1alpha1.PrintableUnknown
	case vmi == nil:
		return virtv1alpha1.PrintableStopped
	}
	switch vmi.Status.Phase {
	case virtv1alpha1.Running:
		return virtv1alpha1.PrintableRunning
	case virtv1alpha1.Succeeded, virtv1alpha1.Failed:
		return virtv1alpha1.PrintableStopped
	case virtv1alpha1.Unknown:
		return virtv1alpha1.PrintableUnknown
	}
	if c := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionPodScheduled); c != nil && c.Reason == "Unschedulable" {
		return virtv1alpha1.PrintableUnschedulable
	}
	if c := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionReady); c != nil {
		switch c.Reason {
		case virtv1alpha1.ReasonPVCNotFound:
			return virtv1alpha1.PrintablePvcNotFound
		case virtv1alpha1.ReasonPVCNotBound:
			return virtv1alpha1.PrintableWaitingForVolumeBinding
		}
	}
	return virtv1alpha1.PrintableStarting
}

// setVMReady is the VMI's Ready, or why there is no ready run.
func setVMReady(conds *[]metav1.Condition, in vmConditionInput) {
	const t = virtv1alpha1.ConditionReady
	vmi := in.VMI
	switch {
	case in.Err != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonCreateFailed, in.Err)
	case in.Foreign != nil:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonVMINameTaken,
			fmt.Sprintf("VirtualMachineInstance %s exists and does not belong to this VirtualMachine: delete it or rename the VirtualMachine", in.Foreign.Name))
	case in.printable == virtv1alpha1.PrintableCrashLoopBackOff:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonCrashLoopBackOff,
			fmt.Sprintf("%d run(s) failed in a row; the next run starts at %s", in.plan.StartFailure.ConsecutiveFailCount, in.plan.RetryAt.UTC().Format("2006-01-02T15:04:05Z")))
	case in.printable == virtv1alpha1.PrintableStopping, in.printable == virtv1alpha1.PrintableTerminating:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonStopping, "the run is stopping: the guest is shutting down")
	case vmi == nil:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonStopped, fmt.Sprintf("no run: runStrategy is %s", in.strategy))
	case isTerminal(vmi.Status.Phase):
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonStopped, fmt.Sprintf("the run ended (%s) and runStrategy %s does not start another", vmi.Status.Phase, in.strategy))
	default:
		if c := meta.FindStatusCondition(vmi.Status.Conditions, t); c != nil {
			in.set(conds, t, c.Status, c.Reason, c.Message)
			return
		}
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonStarting, "the run is starting")
	}
}

// setVMFailure mirrors the VMI's Failure while its failed run is kept, and
// clears it otherwise.
func setVMFailure(conds *[]metav1.Condition, in vmConditionInput) {
	const t = virtv1alpha1.ConditionFailure
	if in.VMI != nil {
		if c := meta.FindStatusCondition(in.VMI.Status.Conditions, t); c != nil && c.Status == metav1.ConditionTrue {
			in.set(conds, t, metav1.ConditionTrue, c.Reason, c.Message)
			return
		}
	}
	meta.RemoveStatusCondition(conds, t)
}

// setVMRestartRequired: True when the running VMI was started from another
// template than the VM's.
func setVMRestartRequired(conds *[]metav1.Condition, in vmConditionInput) {
	const t = virtv1alpha1.ConditionRestartRequired
	vmi := in.VMI
	if vmi == nil || isTerminal(vmi.Status.Phase) || vmi.Annotations[virtv1alpha1.AnnotationTemplateHash] == in.hash {
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonTemplateInUse, "the run uses the current template")
		return
	}
	in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonTemplateChanged,
		"the template changed since the run started; it applies on the next run: restart the VM (annotate it "+virtv1alpha1.AnnotationRestartRequestedAt+", or set runStrategy Halted and back)")
}

// setVMMirrored copies the current VMI's scheduling, mesh and volume
// conditions, and drops them when there is no run.
func setVMMirrored(conds *[]metav1.Condition, in vmConditionInput) {
	for _, t := range mirroredConditions {
		var c *metav1.Condition
		if in.VMI != nil {
			c = meta.FindStatusCondition(in.VMI.Status.Conditions, t)
		}
		if c == nil {
			meta.RemoveStatusCondition(conds, t)
			continue
		}
		in.set(conds, t, c.Status, c.Reason, c.Message)
	}
}
