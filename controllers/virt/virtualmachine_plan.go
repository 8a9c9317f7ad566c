package virt

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// Crash-loop back-off between failed runs (KubeVirt's shape): 10s, doubled
// per consecutive failure, at most 5 minutes.
const (
	backoffBase = 10 * time.Second
	backoffMax  = 5 * time.Minute
)

// vmAction is what the VirtualMachine controller does in one reconcile.
type vmAction int

const (
	// actNone: nothing to do now.
	actNone vmAction = iota
	// actCreate: start a run (create the VMI).
	actCreate
	// actStop: stop the current run (delete the VMI; its pod shuts the guest
	// down within the grace period).
	actStop
	// actWait: wait, for the back-off or for the last run's pod to go.
	actWait
)

// vmObservation is what one VirtualMachine reconcile saw.
type vmObservation struct {
	// VMI is the VM's current VMI, nil when there is none.
	VMI *virtv1alpha1.VirtualMachineInstance
	// Foreign is a VMI of the VM's name the VM does not control.
	Foreign *virtv1alpha1.VirtualMachineInstance
	// PodsRemain: launcher pods of a previous run are still shutting down.
	PodsRemain bool
	// Created is the VMI this reconcile created.
	Created *virtv1alpha1.VirtualMachineInstance
	// Stopped: this reconcile asked the current run to stop.
	Stopped bool
	// RestartHandled is the restart request this reconcile acted on.
	RestartHandled string
	// Err is an error that retrying cannot fix, shown in the Ready condition.
	Err string
}

// vmPlan is the pure decision of one reconcile.
type vmPlan struct {
	Action vmAction
	// Why says why, for logs and events.
	Why string
	// RetryAt, for actWait on the back-off, is when the next run may start.
	RetryAt time.Time
	// StartFailure is the VM's next start-failure record.
	StartFailure *virtv1alpha1.VirtualMachineStartFailure
	// RestartHandled is set when the plan acts on a restart request.
	RestartHandled string
}

// runStrategy is the strategy in force: spec.runStrategy, or spec.running
// translated (true: Always, false: Halted).
func runStrategy(vm *virtv1alpha1.VirtualMachine) virtv1alpha1.RunStrategy {
	switch {
	case vm.Spec.RunStrategy != nil:
		return *vm.Spec.RunStrategy
	case vm.Spec.Running != nil && *vm.Spec.Running:
		return virtv1alpha1.RunStrategyAlways
	default:
		return virtv1alpha1.RunStrategyHalted
	}
}

// restartRequested returns a restart request (the annotation's value) that
// the controller has not acted on yet.
func restartRequested(vm *virtv1alpha1.VirtualMachine) string {
	v := vm.Annotations[virtv1alpha1.AnnotationRestartRequestedAt]
	if v == "" || v == vm.Status.RestartRequestHandled {
		return ""
	}
	return v
}

// nextStartFailure updates the failure record from the current VMI: a run
// that failed and was not counted yet counts, with its back-off; a run that
// became Ready clears the record.
func nextStartFailure(prev *virtv1alpha1.VirtualMachineStartFailure, vmi *virtv1alpha1.VirtualMachineInstance, now time.Time) *virtv1alpha1.VirtualMachineStartFailure {
	if vmi == nil {
		return prev
	}
	if vmi.Status.Phase == virtv1alpha1.Failed {
		if prev != nil && prev.LastFailedVMIUID == string(vmi.UID) {
			return prev
		}
		n := int32(1)
		if prev != nil {
			n = prev.ConsecutiveFailCount + 1
		}
		retry := metav1.NewTime(now.Add(backoff(n)).Truncate(time.Second))
		return &virtv1alpha1.VirtualMachineStartFailure{ConsecutiveFailCount: n, LastFailedVMIUID: string(vmi.UID), RetryAfterTimestamp: &retry}
	}
	if isReady(vmi) {
		return nil
	}
	return prev
}

// backoff is the wait after the n-th consecutive failed run.
func backoff(n int32) time.Duration {
	d := backoffBase
	for i := int32(1); i < n && d < backoffMax; i++ {
		d *= 2
	}
	return min(d, backoffMax)
}

func isReady(vmi *virtv1alpha1.VirtualMachineInstance) bool {
	for _, c := range vmi.Status.Conditions {
		if c.Type == virtv1alpha1.ConditionReady {
			return c.Status == metav1.ConditionTrue
		}
	}
	return false
}

// planVM decides, from the VM and what was observed, what to do now. It is
// pure and holds KubeVirt's run-strategy semantics:
//
//	Always          a run always exists: a new one starts when one ends
//	RerunOnFailure  a new run starts after a failure, not after a clean end
//	Once            one run; an ended run is kept and not restarted
//	Manual          no run starts or restarts by itself; a restart request
//	                (AnnotationRestartRequestedAt) stops the current run and
//	                starts a new one
//	Halted          no run: the current one is stopped gracefully
//
// A failed run counts towards the crash-loop back-off before the next one
// starts. A new run starts only when the last one's launcher pod is gone, so
// two runs never share the VM's disks.
func planVM(vm *virtv1alpha1.VirtualMachine, obs vmObservation, now time.Time) vmPlan {
	strategy := runStrategy(vm)
	p := vmPlan{StartFailure: nextStartFailure(vm.Status.StartFailure, obs.VMI, now)}
	restart := restartRequested(vm)
	vmi := obs.VMI
	if vmi != nil && restart != "" && vmi.Annotations[virtv1alpha1.AnnotationRestartRequestedAt] == restart {
		// The current run was started for this request: the VM read from
		// the cache may not show the status that records it yet.
		p.RestartHandled, restart = restart, ""
	}
	switch {
	case obs.Foreign != nil:
		p.Why = "a VirtualMachineInstance of this name belongs to something else"
		return p
	case vm.DeletionTimestamp != nil:
		if vmi != nil && vmi.DeletionTimestamp == nil {
			p.Action, p.Why = actStop, "the VirtualMachine is being deleted"
		}
		return p
	case vmi != nil && vmi.DeletionTimestamp != nil:
		p.Action, p.Why = actWait, "the run is stopping"
		return p
	case vmi != nil && strategy == virtv1alpha1.RunStrategyHalted:
		p.Action, p.Why = actStop, "runStrategy is Halted"
		return p
	case vmi != nil && restart != "":
		// The request stays pending until the next run starts.
		p.Action, p.Why = actStop, "a restart was requested"
		return p
	case vmi != nil && isTerminal(vmi.Status.Phase):
		if !rerun(strategy, vmi.Status.Phase) {
			return p
		}
		if wait := retryAt(p.StartFailure, vmi); now.Before(wait) {
			p.Action, p.Why, p.RetryAt = actWait, "crash-loop back-off after a failed run", wait
			return p
		}
		p.Action, p.Why = actStop, "the run ended ("+string(vmi.Status.Phase)+") and runStrategy is "+string(strategy)
		return p
	case vmi != nil:
		return p
	case obs.PodsRemain:
		p.Action, p.Why = actWait, "the last run's launcher pod is still shutting down"
		return p
	}
	// No run exists.
	switch strategy {
	case virtv1alpha1.RunStrategyAlways, virtv1alpha1.RunStrategyRerunOnFailure, virtv1alpha1.RunStrategyOnce:
	case virtv1alpha1.RunStrategyManual:
		if restart == "" {
			return p
		}
	default:
		return p
	}
	if p.StartFailure != nil && p.StartFailure.RetryAfterTimestamp != nil && now.Before(p.StartFailure.RetryAfterTimestamp.Time) {
		p.Action, p.Why, p.RetryAt = actWait, "crash-loop back-off after a failed run", p.StartFailure.RetryAfterTimestamp.Time
		return p
	}
	p.Action, p.Why, p.RestartHandled = actCreate, "runStrategy is "+string(strategy), restart
	return p
}

// rerun reports whether a run that ended in phase starts again.
func rerun(strategy virtv1alpha1.RunStrategy, phase virtv1alpha1.VirtualMachineInstancePhase) bool {
	switch strategy {
	case virtv1alpha1.RunStrategyAlways:
		return true
	case virtv1alpha1.RunStrategyRerunOnFailure:
		return phase == virtv1alpha1.Failed
	}
	return false
}

// retryAt is when the run after vmi may start: its back-off when it failed.
func retryAt(f *virtv1alpha1.VirtualMachineStartFailure, vmi *virtv1alpha1.VirtualMachineInstance) time.Time {
	if f == nil || f.RetryAfterTimestamp == nil || f.LastFailedVMIUID != string(vmi.UID) {
		return time.Time{}
	}
	return f.RetryAfterTimestamp.Time
}
