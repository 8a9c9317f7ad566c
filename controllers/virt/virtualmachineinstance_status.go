package virt

import (
	"fmt"
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
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
	// LostNode names the node the launcher pod was bound to when that node
	// was removed from the cluster: the run is over.
	LostNode string
	// ControlPlaneGone names ("<namespace>/<name>") the MeshControlPlane the
	// pod's proxy belongs to when it was deleted.
	ControlPlaneGone string
	// VolumesWait, when set, is why the VMI's claims keep the pod from
	// being created.
	VolumesWait *volumesWait
	// ClaimsResolved: this reconcile found every claim ready.
	ClaimsResolved bool
}

func isTerminal(p virtv1alpha1.VirtualMachineInstancePhase) bool {
	return p == virtv1alpha1.Succeeded || p == virtv1alpha1.Failed
}

// computeStatus is pure: the VMI's next status from its current one and what
// was observed. The phase comes first; then each condition has its own
// setter reading the same conditionInput. Condition times change only when a
// condition's status does.
func computeStatus(vmi *virtv1alpha1.VirtualMachineInstance, obs observed, now metav1.Time) virtv1alpha1.VirtualMachineInstanceStatus {
	st := *vmi.Status.DeepCopy()
	st.ObservedGeneration = vmi.Generation
	if isTerminal(st.Phase) {
		// A VMI is one run: a terminal phase never changes again.
		for i := range st.Conditions {
			st.Conditions[i].ObservedGeneration = vmi.Generation
		}
		return st
	}

	in := conditionInput{observed: obs, phase: virtv1alpha1.Pending, priorPhase: st.Phase, launcherPod: st.LauncherPod, claims: len(claimNames(vmi)), generation: vmi.Generation, now: now,
		readinessProbe: vmi.Spec.ReadinessProbe != nil, runOfVM: vmi.Labels[virtv1alpha1.LabelVM] != ""}
	switch {
	case obs.PodLost:
		in.phase = virtv1alpha1.Failed
	case obs.Pod != nil:
		in.phase = podPhase(obs.Pod)
		st.LauncherPod = obs.Pod.Name
		st.NodeName = obs.Pod.Spec.NodeName
		st.MeshSnapshot = obs.Pod.Annotations[launcherpod.AnnotationMeshSnapshot]
		st.Interfaces = interfaces(vmi, obs.Pod)
		if obs.LostNode != "" {
			in.phase = virtv1alpha1.Failed
		}
	}
	for _, set := range []func(*[]metav1.Condition, conditionInput){setReady, setPodScheduled, setMeshEnrolled, setProxyReady, setVolumesReady, setFailure} {
		set(&st.Conditions, in)
	}
	if in.phase != st.Phase {
		st.Phase = in.phase
		st.PhaseTransitionTimestamps = append(st.PhaseTransitionTimestamps, virtv1alpha1.PhaseTransitionTimestamp{Phase: in.phase, PhaseTransitionTimestamp: now})
	}
	return st
}

// conditionInput is what every condition setter reads: the observation, the
// phase computeStatus derived from it and the status it started from.
type conditionInput struct {
	observed
	phase       virtv1alpha1.VirtualMachineInstancePhase
	priorPhase  virtv1alpha1.VirtualMachineInstancePhase
	launcherPod string // the pod the status named before this reconcile
	claims      int    // the VMI's persistentVolumeClaim volumes
	generation  int64
	now         metav1.Time
	// readinessProbe: the guest is probed, so the pod's Ready means the
	// guest answers; without a probe it means QEMU runs the guest.
	readinessProbe bool
	// runOfVM: the VMI is a run of a VirtualMachine, which decides on the
	// next run.
	runOfVM bool
}

// set writes one condition with the input's generation and time.
func (in conditionInput) set(conds *[]metav1.Condition, t string, s metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: t, Status: s, Reason: reason, Message: msg, ObservedGeneration: in.generation, LastTransitionTime: in.now})
}

// lostMessage says which pod was lost and that the VMI is not restarted.
func (in conditionInput) lostMessage() string {
	name := "the launcher pod"
	if in.launcherPod != "" {
		name = "launcher pod " + in.launcherPod
	}
	what := name + " was deleted or lost"
	if in.LostNode != "" {
		if in.Pod != nil {
			name = "launcher pod " + in.Pod.Name
		}
		what = fmt.Sprintf("node %s, where %s ran, was removed from the cluster", in.LostNode, name)
	}
	if in.runOfVM {
		return fmt.Sprintf("%s while the VMI was %s; its VirtualMachine starts a new run as its runStrategy says", what, orPending(in.priorPhase))
	}
	return fmt.Sprintf("%s while the VMI was %s; a VMI is one run of a VM and is not restarted: create a new VirtualMachineInstance, or run it as a VirtualMachine", what, orPending(in.priorPhase))
}

// enrolledPod reports whether the pod was rendered with the proxy.
func enrolledPod(pod *corev1.Pod) bool {
	return pod.Annotations[launcherpod.AnnotationMeshControlPlane] != ""
}

// setReady: the launcher pod's Ready, which includes the native sidecar
// proxy; while there is no pod, why not.
func setReady(conds *[]metav1.Condition, in conditionInput) {
	const t = virtv1alpha1.ConditionReady
	pod := in.Pod
	switch {
	case in.LostNode != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNodeLost, in.lostMessage())
	case in.PodLost:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonPodLost, in.lostMessage())
	case pod == nil && in.RenderErr != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonRenderFailed, "the launcher pod cannot be rendered: "+in.RenderErr)
	case pod == nil && in.VolumesWait != nil:
		in.set(conds, t, metav1.ConditionFalse, in.VolumesWait.Reason, in.VolumesWait.Message)
	case pod == nil && in.Waiting != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonWaitingForMesh, in.Waiting)
	case pod == nil:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNoLauncherPod, "the launcher pod is not created yet")
	case in.phase == virtv1alpha1.Succeeded:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonSucceeded, fmt.Sprintf("the VM shut down and launcher pod %s completed", pod.Name))
	case in.phase == virtv1alpha1.Failed:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonFailed, podFailure(pod))
	default:
		if c := podCondition(pod, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue {
			msg := fmt.Sprintf("the guest answers its readinessProbe and launcher pod %s is ready", pod.Name)
			if !in.readinessProbe {
				msg = fmt.Sprintf("QEMU runs the guest and launcher pod %s is ready; without a readinessProbe this does not mean a service in the guest answers", pod.Name)
			}
			in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonPodReady, msg)
			return
		}
		msg := fmt.Sprintf("launcher pod %s is not ready", pod.Name)
		if c := podCondition(pod, corev1.PodReady); c != nil && c.Message != "" {
			msg += ": " + c.Message
		}
		if in.readinessProbe && pod.Status.Phase == corev1.PodRunning {
			msg += " (compute is ready only while the guest answers its readinessProbe)"
		}
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonPodNotReady, msg)
	}
}

// setPodScheduled mirrors the launcher pod's PodScheduled; a lost pod leaves
// it as it was.
func setPodScheduled(conds *[]metav1.Condition, in conditionInput) {
	const t = virtv1alpha1.ConditionPodScheduled
	pod := in.Pod
	if in.PodLost || in.LostNode != "" {
		return
	}
	if pod == nil {
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNoLauncherPod, "the launcher pod is not created yet")
		return
	}
	c := podCondition(pod, corev1.PodScheduled)
	switch {
	case c != nil && c.Status == corev1.ConditionTrue, pod.Spec.NodeName != "":
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonPodScheduled, fmt.Sprintf("launcher pod %s is bound to node %s", pod.Name, pod.Spec.NodeName))
	case c != nil:
		in.set(conds, t, metav1.ConditionFalse, orDefault(c.Reason, virtv1alpha1.ReasonPodPending), fmt.Sprintf("launcher pod %s is not scheduled: %s", pod.Name, orDefault(c.Message, "waiting for the scheduler")))
	default:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonPodPending, fmt.Sprintf("launcher pod %s waits for the scheduler", pod.Name))
	}
}

// setMeshEnrolled says whether the VMI is in the mesh and why. With a pod it
// describes the pod as rendered: the pod is immutable, so a later membership
// change shows in the message only. A lost pod leaves it as it was.
func setMeshEnrolled(conds *[]metav1.Condition, in conditionInput) {
	const t = virtv1alpha1.ConditionMeshEnrolled
	d, pod := in.Decision, in.Pod
	switch {
	case in.PodLost, in.LostNode != "":
	case pod == nil && d.Enrolled && in.Waiting != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonWaitingSnapshot, in.Waiting)
	case pod == nil && d.Unresolved() && in.Waiting != "":
		in.set(conds, t, metav1.ConditionFalse, d.Reason, in.Waiting)
	case pod == nil && d.Enrolled:
		in.set(conds, t, metav1.ConditionTrue, d.Reason, d.Message)
	case pod == nil:
		in.set(conds, t, metav1.ConditionFalse, d.Reason, d.Message)
	case enrolledPod(pod) && in.ControlPlaneGone != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNoControlPlane, fmt.Sprintf("launcher pod %s runs the proxy of MeshControlPlane %s, which was deleted: the proxy gets no new configuration and its certificates are not renewed; "+
			"the VM keeps running outside any working mesh until the control plane is recreated or the VMI is recreated", pod.Name, in.ControlPlaneGone))
	case enrolledPod(pod):
		reason := d.Reason
		msg := fmt.Sprintf("launcher pod %s runs the proxy of MeshControlPlane %s (injection snapshot %s)", pod.Name, pod.Annotations[launcherpod.AnnotationMeshControlPlane], pod.Annotations[launcherpod.AnnotationMeshSnapshot])
		if !d.Enrolled {
			reason = virtv1alpha1.ReasonEnrolledAtCreation
			msg += "; the VMI would no longer be enrolled (" + d.Message + "): the running VM keeps its proxy until it is recreated"
		}
		in.set(conds, t, metav1.ConditionTrue, reason, msg)
	case d.Enrolled:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNotEnrolledAtCreate,
			fmt.Sprintf("launcher pod %s runs without a proxy; the VMI would now be enrolled (%s): recreate it to join the mesh", pod.Name, d.Message))
	default:
		in.set(conds, t, metav1.ConditionFalse, d.Reason, fmt.Sprintf("launcher pod %s runs without a proxy: %s", pod.Name, d.Message))
	}
}

// setProxyReady is the proxy sidecar's readiness, or why there is none.
func setProxyReady(conds *[]metav1.Condition, in conditionInput) {
	const t = virtv1alpha1.ConditionProxyReady
	d, pod := in.Decision, in.Pod
	switch {
	case in.LostNode != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNodeLost, in.lostMessage())
	case in.PodLost:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonPodLost, in.lostMessage())
	case pod == nil && d.Enrolled:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonProxyNotReady, "the launcher pod is not created yet")
	case pod == nil:
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNotEnrolled, "the VMI is not in the mesh: "+d.Message)
	case !enrolledPod(pod):
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNotEnrolled, "the VMI is not in the mesh")
	case in.ControlPlaneGone != "":
		in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonNoControlPlane, fmt.Sprintf("MeshControlPlane %s was deleted: the istio-proxy sidecar has no control plane for configuration or certificates", in.ControlPlaneGone))
	default:
		if cs := containerStatus(pod.Status.InitContainerStatuses, podcontract.ContainerProxy); cs != nil && cs.Ready {
			in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonProxyReady, "the istio-proxy sidecar is ready")
		} else {
			in.set(conds, t, metav1.ConditionFalse, virtv1alpha1.ReasonProxyNotReady, "the istio-proxy sidecar is not ready")
		}
	}
}

// setVolumesReady says whether the VMI's claims let the launcher pod be
// created. Once there is a pod it stays True: the claims were ready when it
// was made and the kubelet holds them since. Without a pod and without a
// verdict from this reconcile (the claims were not looked at), it is left as
// it was.
func setVolumesReady(conds *[]metav1.Condition, in conditionInput) {
	const t = virtv1alpha1.ConditionVolumesReady
	switch {
	case in.PodLost:
	case in.claims == 0:
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonVolumesReady, "the VMI has no persistentVolumeClaim volumes")
	case in.Pod != nil:
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonVolumesReady, fmt.Sprintf("launcher pod %s mounts the VMI's %d PersistentVolumeClaim(s)", in.Pod.Name, in.claims))
	case in.VolumesWait != nil:
		in.set(conds, t, metav1.ConditionFalse, in.VolumesWait.Reason, in.VolumesWait.Message)
	case in.ClaimsResolved:
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonVolumesReady, fmt.Sprintf("the VMI's %d PersistentVolumeClaim(s) are ready", in.claims))
	}
}

// setFailure is set, True with the reason, only when the run failed.
func setFailure(conds *[]metav1.Condition, in conditionInput) {
	const t = virtv1alpha1.ConditionFailure
	switch {
	case in.LostNode != "":
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonNodeLost, in.lostMessage())
	case in.PodLost:
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonPodLost, in.lostMessage())
	case in.Pod != nil && in.phase == virtv1alpha1.Failed:
		in.set(conds, t, metav1.ConditionTrue, virtv1alpha1.ReasonPodFailed, podFailure(in.Pod))
	}
}

func orPending(p virtv1alpha1.VirtualMachineInstancePhase) virtv1alpha1.VirtualMachineInstancePhase {
	if p == "" {
		return virtv1alpha1.Pending
	}
	return p
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
	if c := podCondition(pod, corev1.DisruptionTarget); c != nil && c.Status == corev1.ConditionTrue {
		// Who ended it: an eviction, a preemption, pod garbage collection.
		parts = append(parts, strings.TrimSpace(c.Reason+" "+c.Message))
	}
	if pod.DeletionTimestamp != nil {
		parts = append(parts, "the pod was deleted")
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

// interfaces: with masquerade the VM is reached at the pod's IPs — at its
// IPv6 ones only when the pod was rendered with the VM's IPv6.
func interfaces(vmi *virtv1alpha1.VirtualMachineInstance, pod *corev1.Pod) []virtv1alpha1.VirtualMachineInstanceNetworkInterface {
	var out []virtv1alpha1.VirtualMachineInstanceNetworkInterface
	ips := reachableIPs(pod)
	for _, ifc := range vmi.Spec.Domain.Devices.Interfaces {
		mac := ifc.MacAddress
		if mac == "" {
			mac = podcontract.StableMAC(vmi.Namespace, vmi.Name, string(vmi.UID), ifc.Name)
		}
		i := virtv1alpha1.VirtualMachineInstanceNetworkInterface{Name: ifc.Name, MAC: mac, IPs: ips}
		if len(ips) > 0 {
			i.IP = ips[0]
		}
		out = append(out, i)
	}
	return out
}

// reachableIPs are the pod's IPs at which the VM answers: IPv6 ones only
// with the VM's IPv6 (launcherpod.VMHasIPv6), as without it net-setup
// forwards no IPv6 to the guest.
func reachableIPs(pod *corev1.Pod) []string {
	all := []string{}
	for _, ip := range pod.Status.PodIPs {
		all = append(all, ip.IP)
	}
	if len(all) == 0 && pod.Status.PodIP != "" {
		all = append(all, pod.Status.PodIP)
	}
	ipv6 := launcherpod.VMHasIPv6(pod)
	var out []string
	for _, ip := range all {
		if a, err := netip.ParseAddr(ip); err == nil && a.Unmap().Is6() && !ipv6 {
			continue
		}
		out = append(out, ip)
	}
	return out
}
