package virt

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
)

// Condition reasons of a VirtualMachineInstance.
const (
	ReasonPodReady            = "PodReady"
	ReasonPodNotReady         = "PodNotReady"
	ReasonNoLauncherPod       = "NoLauncherPod"
	ReasonWaitingForMesh      = "WaitingForMesh"
	ReasonWaitingSnapshot     = "WaitingForInjectionSnapshot"
	ReasonRenderFailed        = "RenderFailed"
	ReasonPodScheduled        = "PodScheduled"
	ReasonPodPending          = "PodPending"
	ReasonProxyReady          = "ProxyReady"
	ReasonProxyNotReady       = "ProxyNotReady"
	ReasonNotEnrolled         = "NotEnrolled"
	ReasonEnrolledAtCreation  = "EnrolledAtCreation"
	ReasonNotEnrolledAtCreate = "NotEnrolledAtCreation"
	ReasonPodLost             = "PodLost"
	ReasonPodFailed           = "PodFailed"
	ReasonSucceeded           = "Succeeded"
	ReasonFailed              = "Failed"
)

// observed is what one reconcile saw; computeStatus turns it into the status.
type observed struct {
	// Pod is the VMI's launcher pod, nil when there is none.
	Pod *corev1.Pod
	// PodLost: a launcher pod was created for this VMI and is gone.
	PodLost bool
	// Decision is the current mesh enrollment decision.
	Decision enrollment.Decision
	// Waiting says why an enrolled VMI's pod is not created yet ("" if not).
	Waiting string
	// RenderErr is why the pod cannot be rendered ("" if it can).
	RenderErr string
}

func isTerminal(p virtv1alpha1.VirtualMachineInstancePhase) bool {
	return p == virtv1alpha1.Succeeded || p == virtv1alpha1.Failed
}

// computeStatus is pure: the VMI's next status from its current one and what
// was observed. Condition times change only when a condition's status does.
func computeStatus(vmi *virtv1alpha1.VirtualMachineInstance, obs observed, now metav1.Time) virtv1alpha1.VirtualMachineInstanceStatus {
	st := *vmi.Status.DeepCopy()
	st.ObservedGeneration = vmi.Generation
	gen := vmi.Generation
	set := func(t string, s metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: gen, LastTransitionTime: now})
	}

	if isTerminal(st.Phase) {
		// A VMI is one run: a terminal phase never changes again.
		for i := range st.Conditions {
			st.Conditions[i].ObservedGeneration = gen
		}
		return st
	}

	phase := virtv1alpha1.Pending
	pod := obs.Pod
	switch {
	case obs.PodLost:
		phase = virtv1alpha1.Failed
		name := st.LauncherPod
		if name == "" {
			name = "the launcher pod"
		} else {
			name = "launcher pod " + name
		}
		msg := fmt.Sprintf("%s was deleted or lost while the VMI was %s; a VMI is one run of a VM and is not restarted: create a new VirtualMachineInstance", name, orPending(st.Phase))
		set(virtv1alpha1.ConditionFailure, metav1.ConditionTrue, ReasonPodLost, msg)
		set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPodLost, msg)
		set(virtv1alpha1.ConditionProxyReady, metav1.ConditionFalse, ReasonPodLost, msg)
	case pod == nil:
		setNoPod(set, obs)
	default:
		phase = podPhase(pod)
		st.LauncherPod = pod.Name
		st.NodeName = pod.Spec.NodeName
		st.MeshSnapshot = pod.Annotations[launcherpod.AnnotationMeshSnapshot]
		st.Interfaces = interfaces(vmi, pod)
		setFromPod(set, pod, phase, obs.Decision)
	}
	if pod == nil && !obs.PodLost {
		setMeshNoPod(set, obs)
	}

	if phase != st.Phase {
		st.Phase = phase
		st.PhaseTransitionTimestamps = append(st.PhaseTransitionTimestamps, virtv1alpha1.PhaseTransitionTimestamp{Phase: phase, PhaseTransitionTimestamp: now})
	}
	return st
}

func orPending(p virtv1alpha1.VirtualMachineInstancePhase) virtv1alpha1.VirtualMachineInstancePhase {
	if p == "" {
		return virtv1alpha1.Pending
	}
	return p
}

type setFunc func(t string, s metav1.ConditionStatus, reason, msg string)

func setNoPod(set setFunc, obs observed) {
	switch {
	case obs.RenderErr != "":
		set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonRenderFailed, "the launcher pod cannot be rendered: "+obs.RenderErr)
	case obs.Waiting != "":
		set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonWaitingForMesh, obs.Waiting)
	default:
		set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonNoLauncherPod, "the launcher pod is not created yet")
	}
	set(virtv1alpha1.ConditionPodScheduled, metav1.ConditionFalse, ReasonNoLauncherPod, "the launcher pod is not created yet")
	if obs.Decision.Enrolled {
		set(virtv1alpha1.ConditionProxyReady, metav1.ConditionFalse, ReasonProxyNotReady, "the launcher pod is not created yet")
	} else {
		set(virtv1alpha1.ConditionProxyReady, metav1.ConditionFalse, ReasonNotEnrolled, "the VMI is not in the mesh: "+obs.Decision.Message)
	}
}

func setMeshNoPod(set setFunc, obs observed) {
	d := obs.Decision
	switch {
	case d.Enrolled && obs.Waiting != "":
		set(virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, ReasonWaitingSnapshot, obs.Waiting)
	case d.Unresolved() && obs.Waiting != "":
		set(virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, d.Reason, obs.Waiting)
	case d.Enrolled:
		set(virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionTrue, d.Reason, d.Message)
	default:
		set(virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, d.Reason, d.Message)
	}
}

// podPhase maps the launcher pod onto the VMI's phase.
func podPhase(pod *corev1.Pod) virtv1alpha1.VirtualMachineInstancePhase {
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		return virtv1alpha1.Succeeded
	case corev1.PodFailed:
		return virtv1alpha1.Failed
	case corev1.PodUnknown:
		return virtv1alpha1.Unknown
	}
	if pod.Spec.NodeName == "" {
		return virtv1alpha1.Scheduling
	}
	if cs := containerStatus(pod.Status.ContainerStatuses, podcontract.ContainerCompute); cs != nil && cs.State.Running != nil {
		return virtv1alpha1.Running
	}
	return virtv1alpha1.Scheduled
}

func containerStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

func setFromPod(set setFunc, pod *corev1.Pod, phase virtv1alpha1.VirtualMachineInstancePhase, d enrollment.Decision) {
	// PodScheduled mirrors the pod's.
	if c := podCondition(pod, corev1.PodScheduled); c != nil && c.Status == corev1.ConditionTrue {
		set(virtv1alpha1.ConditionPodScheduled, metav1.ConditionTrue, ReasonPodScheduled, fmt.Sprintf("launcher pod %s is bound to node %s", pod.Name, pod.Spec.NodeName))
	} else if pod.Spec.NodeName != "" {
		set(virtv1alpha1.ConditionPodScheduled, metav1.ConditionTrue, ReasonPodScheduled, fmt.Sprintf("launcher pod %s is bound to node %s", pod.Name, pod.Spec.NodeName))
	} else if c != nil {
		set(virtv1alpha1.ConditionPodScheduled, metav1.ConditionFalse, orDefault(c.Reason, ReasonPodPending), fmt.Sprintf("launcher pod %s is not scheduled: %s", pod.Name, orDefault(c.Message, "waiting for the scheduler")))
	} else {
		set(virtv1alpha1.ConditionPodScheduled, metav1.ConditionFalse, ReasonPodPending, fmt.Sprintf("launcher pod %s waits for the scheduler", pod.Name))
	}

	// Ready is the pod's Ready, which includes the native sidecar proxy.
	switch {
	case phase == virtv1alpha1.Succeeded:
		set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonSucceeded, fmt.Sprintf("the VM shut down and launcher pod %s completed", pod.Name))
	case phase == virtv1alpha1.Failed:
		msg := podFailure(pod)
		set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonFailed, msg)
		set(virtv1alpha1.ConditionFailure, metav1.ConditionTrue, ReasonPodFailed, msg)
	default:
		if c := podCondition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
			set(virtv1alpha1.ConditionReady, metav1.ConditionTrue, ReasonPodReady, fmt.Sprintf("the VM runs and launcher pod %s is ready", pod.Name))
		} else {
			msg := fmt.Sprintf("launcher pod %s is not ready", pod.Name)
			if c != nil && c.Message != "" {
				msg += ": " + c.Message
			}
			set(virtv1alpha1.ConditionReady, metav1.ConditionFalse, ReasonPodNotReady, msg)
		}
	}

	// MeshEnrolled and ProxyReady describe the pod as rendered; the pod is
	// immutable, so a later membership change shows in the message only.
	cp := pod.Annotations[launcherpod.AnnotationMeshControlPlane]
	if cp != "" {
		reason, msg := d.Reason, fmt.Sprintf("launcher pod %s runs the proxy of MeshControlPlane %s (injection snapshot %s)", pod.Name, cp, pod.Annotations[launcherpod.AnnotationMeshSnapshot])
		if !d.Enrolled {
			reason = ReasonEnrolledAtCreation
			msg += "; the VMI would no longer be enrolled (" + d.Message + "): the running VM keeps its proxy until it is recreated"
		}
		set(virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionTrue, reason, msg)
		if cs := containerStatus(pod.Status.InitContainerStatuses, podcontract.ContainerProxy); cs != nil && cs.Ready {
			set(virtv1alpha1.ConditionProxyReady, metav1.ConditionTrue, ReasonProxyReady, "the istio-proxy sidecar is ready")
		} else {
			set(virtv1alpha1.ConditionProxyReady, metav1.ConditionFalse, ReasonProxyNotReady, "the istio-proxy sidecar is not ready")
		}
	} else {
		reason, msg := d.Reason, fmt.Sprintf("launcher pod %s runs without a proxy: %s", pod.Name, d.Message)
		if d.Enrolled {
			reason = ReasonNotEnrolledAtCreate
			msg = fmt.Sprintf("launcher pod %s runs without a proxy; the VMI would now be enrolled (%s): recreate it to join the mesh", pod.Name, d.Message)
		}
		set(virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, reason, msg)
		set(virtv1alpha1.ConditionProxyReady, metav1.ConditionFalse, ReasonNotEnrolled, "the VMI is not in the mesh")
	}
}

// podFailure says why the launcher pod failed: compute's termination
// message (the launcher writes its exit reason there) or the pod's reason.
func podFailure(pod *corev1.Pod) string {
	var parts []string
	if cs := containerStatus(pod.Status.ContainerStatuses, podcontract.ContainerCompute); cs != nil && cs.State.Terminated != nil {
		t := cs.State.Terminated
		parts = append(parts, fmt.Sprintf("compute exited with code %d", t.ExitCode))
		if m := strings.TrimSpace(t.Message); m != "" {
			parts = append(parts, m)
		} else if t.Reason != "" {
			parts = append(parts, t.Reason)
		}
	}
	if pod.Status.Reason != "" || pod.Status.Message != "" {
		parts = append(parts, strings.TrimSpace(pod.Status.Reason+" "+pod.Status.Message))
	}
	if len(parts) == 0 {
		parts = append(parts, "no reason given")
	}
	return fmt.Sprintf("launcher pod %s failed: %s", pod.Name, strings.Join(parts, ": "))
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// interfaces: with masquerade the VM is reached at the pod's IPs.
func interfaces(vmi *virtv1alpha1.VirtualMachineInstance, pod *corev1.Pod) []virtv1alpha1.VirtualMachineInstanceNetworkInterface {
	var out []virtv1alpha1.VirtualMachineInstanceNetworkInterface
	for _, ifc := range vmi.Spec.Domain.Devices.Interfaces {
		mac := ifc.MacAddress
		if mac == "" {
			mac = podcontract.StableMAC(vmi.Namespace, vmi.Name, string(vmi.UID), ifc.Name)
		}
		i := virtv1alpha1.VirtualMachineInstanceNetworkInterface{Name: ifc.Name, MAC: mac, IP: pod.Status.PodIP}
		for _, ip := range pod.Status.PodIPs {
			i.IPs = append(i.IPs, ip.IP)
		}
		out = append(out, i)
	}
	return out
}
