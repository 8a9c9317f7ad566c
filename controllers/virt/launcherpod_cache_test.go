package virt

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

// readBack is everything the controllers and mappers derive from a cached
// launcher pod; a trimmed pod must yield the same.
type readBack struct {
	Status       virtv1alpha1.VirtualMachineInstanceStatus
	Labels       map[string]string
	Owner        *metav1.OwnerReference
	UID          string
	Deleting     bool
	Enrolled     bool
	ControlPlane string
	VMIPv6       bool
	Compute      bool
}

func readBackOf(vmi *virtv1alpha1.VirtualMachineInstance, pod *corev1.Pod, d enrollment.Decision, now metav1.Time) readBack {
	_, compute := launcherpod.ComputeOptions(pod)
	return readBack{
		Status:       computeStatus(vmi, observed{Pod: pod, Decision: d}, now),
		Labels:       pod.Labels,
		Owner:        metav1.GetControllerOf(pod),
		UID:          string(pod.UID),
		Deleting:     pod.DeletionTimestamp != nil,
		Enrolled:     enrolledPod(pod),
		ControlPlane: pod.Annotations[launcherpod.AnnotationMeshControlPlane],
		VMIPv6:       launcherpod.VMHasIPv6(pod),
		Compute:      compute,
	}
}

func TestTrimLauncherPodKeepsStatus(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC))
	notMember := enrollment.Decision{Reason: virtv1alpha1.ReasonNotMember, Message: "namespace default is not a member"}
	member := enrollment.Decision{Enrolled: true, Reason: virtv1alpha1.ReasonNamespaceMember, Message: "namespace default is a member"}
	mesh := &injection.Settings{ControlPlaneNamespace: "istio-system", ControlPlaneName: "basic", ProxyImage: "proxyv2:test",
		DiscoveryAddress: "istiod.istio-system.svc:15012", ClusterID: "Kubernetes", ClusterDomain: "cluster.local", TrustDomain: "cluster.local",
		RootCertConfigMap: "istio-ca-root-cert", ProxyUID: 1337, ProxyGID: 1337, InboundCapturePort: 15006, OutboundCapturePort: 15001,
		IncludeOutboundIPRanges: []string{"*"}, ProxyConfig: map[string]any{"discoveryAddress": "istiod.istio-system.svc:15012"}}
	vmi := vb.MakeVMI("vm").Namespace("default").UID("0a6c9d1e-4f7b-4c2d-8e3a-5b9f1d2c7e40").Cores(1).Memory("256Mi").Port("http", 9080).Obj()
	deleted := metav1.NewTime(now.Add(-time.Second))

	running := func(p *corev1.Pod) {
		p.Spec.NodeName = "n1"
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = "10.1.2.3", []corev1.PodIP{{IP: "10.1.2.3"}, {IP: "fd00::3"}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podcontract.ContainerCompute, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}
		p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: podcontract.ContainerProxy, Ready: true}}
	}
	cases := map[string]struct {
		mesh     *injection.Settings
		ipv6     bool
		decision enrollment.Decision
		status   func(*corev1.Pod)
	}{
		"pending":              {decision: notMember, status: func(*corev1.Pod) {}},
		"bound":                {decision: notMember, status: func(p *corev1.Pod) { p.Spec.NodeName = "n1" }},
		"running":              {decision: notMember, status: running},
		"running with IPv6":    {ipv6: true, decision: notMember, status: running},
		"running in the mesh":  {mesh: mesh, decision: member, status: running},
		"mesh, not yet member": {decision: member, status: running},
		"compute failed": {decision: notMember, status: func(p *corev1.Pod) {
			p.Spec.NodeName = "n1"
			p.Status.Phase, p.Status.Reason = corev1.PodFailed, "Error"
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: podcontract.ContainerCompute, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "qemu died"}}}}
		}},
		"deleting": {mesh: mesh, decision: member, status: func(p *corev1.Pod) { running(p); p.DeletionTimestamp = &deleted }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod, err := launcherpod.RenderLauncherPod(vmi, tc.mesh, launcherpod.Options{LauncherImage: "launcher:test", VMIPv6: tc.ipv6})
			if err != nil {
				t.Fatal(err)
			}
			pod.UID, pod.ResourceVersion = "3d1f", "42"
			pod.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "virtmesh", Operation: metav1.ManagedFieldsOperationUpdate}}
			tc.status(pod)
			full := pod.DeepCopy()
			got, err := TrimLauncherPod(pod)
			if err != nil {
				t.Fatal(err)
			}
			trimmed := got.(*corev1.Pod)
			if diff := cmp.Diff(readBackOf(vmi, full, tc.decision, now), readBackOf(vmi, trimmed, tc.decision, now)); diff != "" {
				t.Errorf("trimmed pod reads back differently (-full +trimmed):\n%s", diff)
			}
			if trimmed.ManagedFields != nil || trimmed.Annotations[podcontract.VMIAnnotation] != "" || len(trimmed.Spec.Volumes) > 0 {
				t.Errorf("not trimmed: managedFields %d, VMI annotation %t, volumes %d", len(trimmed.ManagedFields), trimmed.Annotations[podcontract.VMIAnnotation] != "", len(trimmed.Spec.Volumes))
			}
		})
	}
}

func TestTrimLauncherPodPassesOtherObjects(t *testing.T) {
	in := "tombstone"
	got, err := TrimLauncherPod(in)
	if err != nil || got != in {
		t.Fatalf("TrimLauncherPod(%q) = %v, %v; want it unchanged", in, got, err)
	}
}
