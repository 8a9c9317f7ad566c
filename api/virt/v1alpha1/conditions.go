package v1alpha1

import (
	kubevirtv1 "kubevirt.io/api/core/v1"
)

// Condition types of a VirtualMachineInstance.
const (
	// ConditionReady is True when the launcher pod is Ready, including its proxy.
	ConditionReady = string(kubevirtv1.VirtualMachineInstanceReady)
	// ConditionPodScheduled mirrors the launcher pod's PodScheduled condition.
	ConditionPodScheduled = "PodScheduled"
	// ConditionMeshEnrolled says whether the VMI is in the mesh, and why.
	ConditionMeshEnrolled = "MeshEnrolled"
	// ConditionProxyReady is True when the proxy sidecar is ready (False/NotEnrolled
	// when the VMI is not in the mesh).
	ConditionProxyReady = "ProxyReady"
	// ConditionFailure is True, with the reason, when the run failed.
	ConditionFailure = "Failure"
	// ConditionVolumesReady is True once every persistentVolumeClaim volume's
	// claim exists, has volumeMode Filesystem and is bound (or binds when
	// the pod is scheduled): only then is the launcher pod created.
	ConditionVolumesReady = "VolumesReady"
)

// Reasons of the Ready condition.
const (
	ReasonPodReady       = "PodReady"
	ReasonPodNotReady    = "PodNotReady"
	ReasonNoLauncherPod  = "NoLauncherPod"
	ReasonWaitingForMesh = "WaitingForMesh"
	ReasonRenderFailed   = "RenderFailed"
	ReasonSucceeded      = "Succeeded"
	ReasonFailed         = "Failed"
	// Ready also carries the VolumesReady reasons below while the launcher
	// pod waits for a claim (a VirtualMachine's printableStatus reads them).
)

// Reasons of the VolumesReady condition.
const (
	// ReasonVolumesReady: every claim is usable (or the VMI names none).
	ReasonVolumesReady = "VolumesReady"
	// ReasonPVCNotFound: a persistentVolumeClaim volume names a claim that
	// does not exist (or is being deleted).
	ReasonPVCNotFound = "PersistentVolumeClaimNotFound"
	// ReasonPVCNotBound: a claim is not bound yet, and its StorageClass does
	// not bind on first use (WaitForFirstConsumer).
	ReasonPVCNotBound = "PersistentVolumeClaimNotBound"
	// ReasonPVCBlockMode: a claim has volumeMode Block; VirtMesh keeps disks
	// as disk.img files on Filesystem-mode claims.
	ReasonPVCBlockMode = "PersistentVolumeClaimBlockMode"
)

// Reasons of the PodScheduled condition (besides the pod's own reasons,
// e.g. Unschedulable, which are mirrored).
const (
	ReasonPodScheduled = "PodScheduled"
	ReasonPodPending   = "PodPending"
)

// Reasons of the MeshEnrolled condition.
const (
	// Enrolled.
	ReasonNamespaceMember = "NamespaceMember"
	ReasonOptedIn         = "OptedIn"
	// The launcher pod runs the proxy although the VMI would no longer be
	// enrolled: the pod is immutable, the VM keeps its proxy until recreated.
	ReasonEnrolledAtCreation = "EnrolledAtCreation"
	// Not enrolled.
	ReasonOptedOut          = "OptedOut"
	ReasonNotMember         = "NotMember"
	ReasonInjectionDisabled = "InjectionDisabled"
	ReasonNoControlPlane    = "ControlPlaneNotFound"
	ReasonAmbiguous         = "AmbiguousControlPlane"
	// The launcher pod runs without a proxy although the VMI would now be
	// enrolled.
	ReasonNotEnrolledAtCreate = "NotEnrolledAtCreation"
	// Enrolled, but the control plane's injection settings are not published.
	ReasonWaitingSnapshot = "WaitingForInjectionSnapshot"
)

// Reasons of the ProxyReady condition.
const (
	ReasonProxyReady    = "ProxyReady"
	ReasonProxyNotReady = "ProxyNotReady"
	ReasonNotEnrolled   = "NotEnrolled"
	// ReasonNoControlPlane (MeshEnrolled's) also says, on ProxyReady and
	// MeshEnrolled, that the control plane of a running proxy was deleted.
)

// Reasons of the Failure condition (also used by Ready and ProxyReady when
// the run failed).
const (
	ReasonPodLost   = "PodLost"
	ReasonPodFailed = "PodFailed"
	// The node the launcher pod was bound to was removed from the cluster.
	ReasonNodeLost = "NodeLost"
)

// Condition types of a VirtualMachine, besides the VMI's Ready, PodScheduled,
// MeshEnrolled, ProxyReady, VolumesReady and Failure, which it mirrors.
const (
	// ConditionRestartRequired is True when the template changed since the
	// current run started: the change applies on the next run.
	ConditionRestartRequired = "RestartRequired"
)

// Reasons of a VirtualMachine's conditions.
const (
	ReasonStopped          = "Stopped"
	ReasonStarting         = "Starting"
	ReasonStopping         = "Stopping"
	ReasonCrashLoopBackOff = "CrashLoopBackOff"
	ReasonTemplateChanged  = "TemplateChanged"
	ReasonTemplateInUse    = "TemplateInUse"
	ReasonVMINameTaken     = "VMINameTaken"
	ReasonCreateFailed     = "CreateFailed"
)
