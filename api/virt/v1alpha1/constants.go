package v1alpha1

import (
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// Phases carry KubeVirt's names and meanings, so tooling that reads KubeVirt
// VMIs reads ours the same way.
const (
	// Pending: accepted, no launcher pod yet.
	Pending = VirtualMachineInstancePhase(kubevirtv1.Pending)
	// Scheduling: the launcher pod exists but is not bound to a node.
	Scheduling = VirtualMachineInstancePhase(kubevirtv1.Scheduling)
	// Scheduled: the launcher pod is bound to a node; the VM is not running yet.
	Scheduled = VirtualMachineInstancePhase(kubevirtv1.Scheduled)
	// Running: the compute container runs the VM.
	Running = VirtualMachineInstancePhase(kubevirtv1.Running)
	// Succeeded: the VM shut down by itself and the launcher pod completed.
	Succeeded = VirtualMachineInstancePhase(kubevirtv1.Succeeded)
	// Failed: the VM or its launcher pod failed, or the pod was lost. A VMI is one
	// run of a VM and is not restarted.
	Failed = VirtualMachineInstancePhase(kubevirtv1.Failed)
	// Unknown: the launcher pod's state cannot be read.
	Unknown = VirtualMachineInstancePhase(kubevirtv1.Unknown)
)

// DiskBusVirtio is the only disk bus VirtMesh supports.
const DiskBusVirtio = DiskBus(kubevirtv1.DiskBusVirtio)

// FinalizerLauncherPod is on every launcher pod: it keeps a deleted pod until the
// operator has recorded it in its VMI's status (status.launcherPod). The
// pod's name is derived from the VMI's UID, so a pod that could vanish
// before that record — the operator crashed between the pod's create and
// the status patch, and the pod was deleted meanwhile — would leave a VMI
// that looks as if it never ran, and it would run a second time. The
// operator removes it at once from the pods of deleted VMIs.
const FinalizerLauncherPod = "virt.virtmesh.io/launcher-pod"

// Well-known labels and annotations on VMIs and their launcher pods.
const (
	// LabelVMI, on a launcher pod, names the VMI it runs.
	LabelVMI = "virt.virtmesh.io/vmi"
	// AnnotationInject opts a VMI out of ("false") or into ("true") the mesh,
	// with the same meaning as for Istio pods.
	AnnotationInject = "sidecar.istio.io/inject"
	// AnnotationExcludeInboundPorts lists ports (comma-separated) that bypass the
	// proxy and are forwarded straight into the VM, like Istio's annotation of the
	// same name. KubeVirt forwards 22 this way implicitly; VirtMesh forwards
	// nothing unless it is listed here.
	AnnotationExcludeInboundPorts = "traffic.sidecar.istio.io/excludeInboundPorts"
	// LabelVM, on a VMI (and so its launcher pod), names the VirtualMachine
	// that started it.
	LabelVM = "virt.virtmesh.io/vm"
	// AnnotationTemplateHash, on a VMI a VirtualMachine started, is a hash
	// of the VM's template it was started from; a VM whose template hashes
	// differently has RestartRequired.
	AnnotationTemplateHash = "virt.virtmesh.io/template-hash"
	// AnnotationRestartRequestedAt, on a VirtualMachine, requests a restart
	// when its value changes (any string, e.g. the time): the current run is
	// stopped and, unless runStrategy is Halted, a new one starts; with
	// runStrategy Manual it is also how a run is started.
	//
	//	kubectl annotate mvm details virt.virtmesh.io/restart-requested-at="$(date -Is)" --overwrite
	AnnotationRestartRequestedAt = "virt.virtmesh.io/restart-requested-at"
)
