package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RunStrategy says when a VirtualMachine's VMI runs (KubeVirt's values and
// meanings).
// +kubebuilder:validation:Enum=Always;RerunOnFailure;Halted;Manual;Once
type RunStrategy string

// The run strategies.
const (
	// RunStrategyAlways: a VMI always runs; a new run starts whenever one
	// ends, however it ends (failure, guest shutdown, eviction, node loss).
	RunStrategyAlways RunStrategy = "Always"
	// RunStrategyRerunOnFailure: a new run starts when one fails; a guest
	// that shuts down cleanly stays stopped.
	RunStrategyRerunOnFailure RunStrategy = "RerunOnFailure"
	// RunStrategyHalted: no VMI runs; a running one is stopped gracefully.
	RunStrategyHalted RunStrategy = "Halted"
	// RunStrategyManual: the controller neither starts nor restarts a run by
	// itself; a restart request (AnnotationRestartRequestedAt) starts one.
	RunStrategyManual RunStrategy = "Manual"
	// RunStrategyOnce: one run, not restarted however it ends.
	RunStrategyOnce RunStrategy = "Once"
)

// VirtualMachineSpec is KubeVirt's VirtualMachineSpec as VirtMesh runs it.
// +kubebuilder:validation:XValidation:rule="!(has(self.runStrategy) && has(self.running))",message="set only one of spec.running and spec.runStrategy (running is KubeVirt's deprecated alias: true means Always, false means Halted)"
type VirtualMachineSpec struct {
	// runStrategy says when the VM runs: Always, RerunOnFailure, Halted,
	// Manual or Once, with KubeVirt's meanings. Edit it to start (Always,
	// RerunOnFailure, Once) or stop (Halted) the VM. Neither runStrategy nor
	// running means Halted, as with KubeVirt.
	// +optional
	RunStrategy *RunStrategy `json:"runStrategy,omitempty"`

	// running is KubeVirt's deprecated alias of runStrategy, accepted for
	// old manifests: true means Always, false means Halted.
	// +optional
	Running *bool `json:"running,omitempty"`

	// template is the VMI each run starts from. A change applies on the next
	// run; until then status has RestartRequired.
	// +required
	Template VirtualMachineInstanceTemplateSpec `json:"template,omitzero"`

	// updateVolumesStrategy is accepted for compatibility: Replacement (a
	// volume change applies on the next run) is what VirtMesh does; Migration
	// is rejected.
	// +kubebuilder:validation:XValidation:rule="self == 'Replacement'",message="VirtMesh cannot migrate a running VM: volume changes apply on the next run (updateVolumesStrategy: Replacement)"
	// +optional
	UpdateVolumesStrategy string `json:"updateVolumesStrategy,omitempty"`

	// instancetype is KubeVirt's instance type reference. Not supported by
	// VirtMesh: write the CPU and memory into the template.
	// +kubebuilder:validation:XValidation:rule="false",message="instancetype is not supported by VirtMesh: write the CPU and memory into spec.template.spec.domain"
	// +optional
	Instancetype *Unsupported `json:"instancetype,omitempty"`

	// preference is KubeVirt's preference reference. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="preference is not supported by VirtMesh: write the devices and features into spec.template.spec.domain"
	// +optional
	Preference *Unsupported `json:"preference,omitempty"`

	// dataVolumeTemplates need CDI. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="dataVolumeTemplates are not supported by VirtMesh: they need CDI; create a PersistentVolumeClaim and use a persistentVolumeClaim volume"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	DataVolumeTemplates []Unsupported `json:"dataVolumeTemplates,omitempty"`
}

// VirtualMachineInstanceTemplateSpec is the VMI a VirtualMachine runs.
type VirtualMachineInstanceTemplateSpec struct {
	// metadata of the VMI: its labels and annotations (the VMI is named like
	// the VirtualMachine).
	// +optional
	ObjectMeta TemplateMetadata `json:"metadata,omitzero"`

	// spec of the VMI, validated like a VirtualMachineInstance's.
	// +required
	Spec VirtualMachineInstanceSpec `json:"spec,omitzero"`
}

// TemplateMetadata is the metadata a VMI template may carry.
type TemplateMetadata struct {
	// labels of the VMI (and so of its launcher pod).
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// annotations of the VMI.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// name is accepted and ignored: the VMI is named like the VirtualMachine.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Name string `json:"name,omitempty"`
	// creationTimestamp is accepted and ignored (kubectl writes null here).
	// +kubebuilder:validation:Type=string
	// +nullable
	// +optional
	CreationTimestamp *metav1.Time `json:"creationTimestamp,omitempty"`
}

// VirtualMachinePrintableStatus is a one-word summary of the VM, as KubeVirt
// prints it.
type VirtualMachinePrintableStatus string

// The printable statuses VirtMesh reports (KubeVirt's names).
const (
	PrintableStopped                 VirtualMachinePrintableStatus = "Stopped"
	PrintableStarting                VirtualMachinePrintableStatus = "Starting"
	PrintableRunning                 VirtualMachinePrintableStatus = "Running"
	PrintableStopping                VirtualMachinePrintableStatus = "Stopping"
	PrintableTerminating             VirtualMachinePrintableStatus = "Terminating"
	PrintableCrashLoopBackOff        VirtualMachinePrintableStatus = "CrashLoopBackOff"
	PrintableUnschedulable           VirtualMachinePrintableStatus = "ErrorUnschedulable"
	PrintablePvcNotFound             VirtualMachinePrintableStatus = "ErrorPvcNotFound"
	PrintableWaitingForVolumeBinding VirtualMachinePrintableStatus = "WaitingForVolumeBinding"
	PrintableUnknown                 VirtualMachinePrintableStatus = "Unknown"
)

// VirtualMachineStatus is what the operator observed of the VM and its runs.
type VirtualMachineStatus struct {
	// conditions are Ready, RestartRequired and Failure of the VM, and the
	// current VMI's PodScheduled, MeshEnrolled, ProxyReady and VolumesReady,
	// mirrored.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// printableStatus summarizes the VM: Stopped, Starting, Running,
	// Stopping, Terminating, CrashLoopBackOff, ErrorUnschedulable,
	// ErrorPvcNotFound, WaitingForVolumeBinding or Unknown.
	// +optional
	PrintableStatus VirtualMachinePrintableStatus `json:"printableStatus,omitempty"`

	// created is true while a VMI of this VM exists.
	// +optional
	Created bool `json:"created,omitempty"`

	// ready is true when the VMI is Ready.
	// +optional
	Ready bool `json:"ready,omitempty"`

	// runStrategy in force (spec.running translated).
	// +optional
	RunStrategy RunStrategy `json:"runStrategy,omitempty"`

	// startFailure counts the runs that failed in a row and says when the next
	// one may start (crash-loop back-off: 10s, doubling, at most 5 minutes).
	// +optional
	StartFailure *VirtualMachineStartFailure `json:"startFailure,omitempty"`

	// restartRequestHandled is the last AnnotationRestartRequestedAt value the
	// controller acted on.
	// +optional
	RestartRequestHandled string `json:"restartRequestHandled,omitempty"`

	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// desiredGeneration is the VM generation the current run was started
	// from; it lags observedGeneration while a restart is required.
	// +optional
	DesiredGeneration int64 `json:"desiredGeneration,omitempty"`
}

// VirtualMachineStartFailure tracks runs that failed in a row.
type VirtualMachineStartFailure struct {
	// consecutiveFailCount is how many runs failed in a row.
	// +optional
	ConsecutiveFailCount int32 `json:"consecutiveFailCount,omitempty"`
	// lastFailedVMIUID is the UID of the last failed VMI.
	// +optional
	LastFailedVMIUID string `json:"lastFailedVMIUID,omitempty"`
	// retryAfterTimestamp is when the next run may start.
	// +optional
	RetryAfterTimestamp *metav1.Time `json:"retryAfterTimestamp,omitempty"`
}

// VirtualMachine keeps a virtual machine running according to its
// runStrategy: it starts a VirtualMachineInstance (one run) named like itself
// from its template and starts a new one when a run ends, as KubeVirt's
// VirtualMachine does.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mvm;mvms,categories=virtmesh
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="the VirtualMachine name must be at most 63 characters: its VMI is named like it"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.printableStatus`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
type VirtualMachine struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the VM and when it runs.
	// +required
	Spec VirtualMachineSpec `json:"spec,omitzero"`
	// status is what the operator observed.
	// +optional
	Status VirtualMachineStatus `json:"status,omitzero"`
}

// VirtualMachineList is a list of VirtualMachines.
//
// +kubebuilder:object:root=true
type VirtualMachineList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachine `json:"items"`
}

func init() {
	knownTypes = append(knownTypes, &VirtualMachine{}, &VirtualMachineList{})
}
