package virt

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// podOf is a launcher pod of a VMI with uid, named name, carrying our
// finalizer; terminating sets its deletionTimestamp.
func podOf(uid types.UID, name string, terminating bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name:            name,
		Finalizers:      []string{"other.example.com/keep", virtv1alpha1.FinalizerLauncherPod},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: virtv1alpha1.GroupVersion.String(), Kind: "VirtualMachineInstance", Name: "vm", UID: uid, Controller: ptr.To(true)}},
	}}
	if terminating {
		p.DeletionTimestamp = &metav1.Time{Time: time.Unix(100, 0)}
	}
	return p
}

func vmiWith(uid types.UID, phase virtv1alpha1.VirtualMachineInstancePhase, launcherPod string) *virtv1alpha1.VirtualMachineInstance {
	return &virtv1alpha1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", UID: uid},
		Status:     virtv1alpha1.VirtualMachineInstanceStatus{Phase: phase, LauncherPod: launcherPod},
	}
}

func TestReleasable(t *testing.T) {
	released := podOf("a", "virt-launcher-vm-a", true)
	released.Finalizers = released.Finalizers[:1]
	for _, tc := range []struct {
		name string
		vmi  *virtv1alpha1.VirtualMachineInstance
		pod  *corev1.Pod
		want bool
	}{
		{"not terminating", vmiWith("a", virtv1alpha1.Running, "virt-launcher-vm-a"), podOf("a", "virt-launcher-vm-a", false), false},
		{"already released", vmiWith("a", virtv1alpha1.Running, "virt-launcher-vm-a"), released, false},
		{"status names it", vmiWith("a", virtv1alpha1.Running, "virt-launcher-vm-a"), podOf("a", "virt-launcher-vm-a", true), true},
		{"status does not name it yet", vmiWith("a", virtv1alpha1.Pending, ""), podOf("a", "virt-launcher-vm-a", true), false},
		{"status names another pod", vmiWith("a", virtv1alpha1.Scheduling, "virt-launcher-vm-b"), podOf("a", "virt-launcher-vm-a", true), false},
		{"run over", vmiWith("a", virtv1alpha1.Failed, ""), podOf("a", "virt-launcher-vm-a", true), true},
		{"VMI gone", nil, podOf("a", "virt-launcher-vm-a", true), true},
		{"a predecessor's pod", vmiWith("b", virtv1alpha1.Pending, ""), podOf("a", "virt-launcher-vm-a", true), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := releasable(tc.vmi, tc.pod); got != tc.want {
				t.Errorf("releasable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHoldBack(t *testing.T) {
	created := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	pod := func(bound, terminating bool) *corev1.Pod {
		p := podOf("a", "virt-launcher-vm-a", terminating)
		p.CreationTimestamp = metav1.NewTime(created)
		if bound {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(created.Add(time.Second))}}
		}
		return p
	}
	for _, tc := range []struct {
		name      string
		vmi       *virtv1alpha1.VirtualMachineInstance
		next      virtv1alpha1.VirtualMachineInstancePhase
		pod       *corev1.Pod
		afterPod  time.Duration // now - pod creation
		wantDelay time.Duration
	}{
		{"new pod pending", vmiWith("a", "", ""), virtv1alpha1.Scheduling, pod(false, false), 500 * time.Millisecond, 1500 * time.Millisecond},
		{"new pod bound", vmiWith("a", virtv1alpha1.Pending, ""), virtv1alpha1.Scheduled, pod(true, false), time.Second, time.Second},
		{"new pod running: write now", vmiWith("a", "", ""), virtv1alpha1.Running, pod(true, false), time.Second, 0},
		{"new pod pending past the window", vmiWith("a", "", ""), virtv1alpha1.Scheduling, pod(false, false), coalesceWindow, 0},
		{"new pod terminating: record it now", vmiWith("a", "", ""), virtv1alpha1.Scheduling, pod(false, true), 0, 0},
		{"bound a moment ago", vmiWith("a", virtv1alpha1.Scheduling, "virt-launcher-vm-a"), virtv1alpha1.Scheduled, pod(true, false), 1500 * time.Millisecond, 1500 * time.Millisecond},
		{"bound past the window", vmiWith("a", virtv1alpha1.Scheduling, "virt-launcher-vm-a"), virtv1alpha1.Scheduled, pod(true, false), 3 * time.Second, 0},
		{"failed: never held", vmiWith("a", "", ""), virtv1alpha1.Failed, pod(false, false), 0, 0},
		{"no pod", vmiWith("a", "", ""), virtv1alpha1.Pending, nil, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := virtv1alpha1.VirtualMachineInstanceStatus{Phase: tc.next}
			if got := holdBack(tc.vmi, &next, tc.pod, created.Add(tc.afterPod)); got != tc.wantDelay {
				t.Errorf("holdBack = %v, want %v", got, tc.wantDelay)
			}
		})
	}
}
