package podcontract

const (
	// DefaultTerminationGracePeriodSeconds is a VMI's default grace period:
	// the guest's ACPI shutdown budget (KubeVirt's and Kubernetes' default).
	DefaultTerminationGracePeriodSeconds int64 = 30
	// TerminationGraceMargin is added to the VMI's grace period for the pod's
	// terminationGracePeriodSeconds: after the guest's budget the launcher
	// stops QEMU hard, writes its termination message and exits, and must do
	// so before the kubelet's SIGKILL (KubeVirt adds 15s for the same reason).
	TerminationGraceMargin int64 = 15
)

// PodGracePeriodSeconds is the launcher pod's terminationGracePeriodSeconds
// for a VMI whose spec.terminationGracePeriodSeconds is vmiGrace (nil for
// the default).
func PodGracePeriodSeconds(vmiGrace *int64) int64 {
	g := DefaultTerminationGracePeriodSeconds
	if vmiGrace != nil {
		g = *vmiGrace
	}
	return g + TerminationGraceMargin
}
