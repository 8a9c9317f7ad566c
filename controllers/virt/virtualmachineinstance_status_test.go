package virt

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

type podWrapper struct{ corev1.Pod }

func makePod() *podWrapper {
	return &podWrapper{corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-vm-abcde", Annotations: map[string]string{}}, Status: corev1.PodStatus{Phase: corev1.PodPending}}}
}
func (p *podWrapper) node(n string) *podWrapper { p.Spec.NodeName = n; return p }
func (p *podWrapper) phase(ph corev1.PodPhase) *podWrapper {
	p.Status.Phase = ph
	return p
}
func (p *podWrapper) cond(t corev1.PodConditionType, s corev1.ConditionStatus) *podWrapper {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: t, Status: s})
	return p
}
func (p *podWrapper) computeRunning() *podWrapper {
	p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "compute", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
	return p
}
func (p *podWrapper) computeExited(code int32, msg string) *podWrapper {
	p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "compute", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Message: msg}}})
	return p
}
func (p *podWrapper) ip(ip string) *podWrapper {
	p.Status.PodIP = ip
	p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	return p
}
func (p *podWrapper) mesh(proxyReady bool) *podWrapper {
	p.Annotations[launcherpod.AnnotationMeshControlPlane] = "istio-system/basic"
	p.Annotations[launcherpod.AnnotationMeshSnapshot] = "istio-system/basic-injection-1234567890"
	p.Status.InitContainerStatuses = append(p.Status.InitContainerStatuses, corev1.ContainerStatus{Name: "istio-proxy", Ready: proxyReady})
	return p
}
func (p *podWrapper) obj() *corev1.Pod { return p.DeepCopy() }

func TestComputeStatus(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	notMember := enrollment.Decision{Reason: virtv1alpha1.ReasonNotMember, Message: "namespace default is not a member"}
	member := enrollment.Decision{Enrolled: true, Reason: virtv1alpha1.ReasonNamespaceMember, Message: "namespace default is a member"}
	type want struct {
		phase      virtv1alpha1.VirtualMachineInstancePhase
		conditions map[string]string // type -> "Status/Reason"
		msg        map[string]string // type -> message substring
		nodeName   string
		ip         string
		snapshot   string
	}
	notFound := &volumesWait{"data", virtv1alpha1.ReasonPVCNotFound, "PersistentVolumeClaim default/data (volume \"data\") does not exist: create it"}
	cases := map[string]struct {
		prior  virtv1alpha1.VirtualMachineInstanceStatus
		claims bool // the VMI has a persistentVolumeClaim volume
		obs    observed
		want   want
	}{
		"no pod yet": {
			obs: observed{Decision: notMember},
			want: want{phase: virtv1alpha1.Pending, conditions: map[string]string{"Ready": "False/NoLauncherPod", "PodScheduled": "False/NoLauncherPod", "MeshEnrolled": "False/NotMember", "ProxyReady": "False/NotEnrolled",
				"VolumesReady": "True/VolumesReady"}, msg: map[string]string{"VolumesReady": "no persistentVolumeClaim volumes"}},
		},
		"waiting for a claim": {
			claims: true,
			obs:    observed{Decision: notMember, VolumesWait: notFound},
			want: want{phase: virtv1alpha1.Pending, conditions: map[string]string{"Ready": "False/PersistentVolumeClaimNotFound", "VolumesReady": "False/PersistentVolumeClaimNotFound", "PodScheduled": "False/NoLauncherPod"},
				msg: map[string]string{"VolumesReady": "default/data (volume \"data\") does not exist: create it", "Ready": "does not exist"}},
		},
		"claims ready, waiting for the mesh": {
			claims: true,
			obs:    observed{Decision: member, ClaimsResolved: true, Waiting: "MeshControlPlane istio-system/basic has not published"},
			want:   want{phase: virtv1alpha1.Pending, conditions: map[string]string{"Ready": "False/WaitingForMesh", "VolumesReady": "True/VolumesReady"}},
		},
		"claims mounted by the pod": {
			claims: true,
			obs:    observed{Decision: notMember, Pod: makePod().node("n1").obj()},
			want:   want{phase: virtv1alpha1.Scheduled, nodeName: "n1", conditions: map[string]string{"VolumesReady": "True/VolumesReady"}, msg: map[string]string{"VolumesReady": "launcher pod virt-launcher-vm-abcde mounts"}},
		},
		"waiting for the mesh snapshot": {
			obs:  observed{Decision: member, Waiting: "MeshControlPlane istio-system/basic has not published"},
			want: want{phase: virtv1alpha1.Pending, conditions: map[string]string{"Ready": "False/WaitingForMesh", "MeshEnrolled": "False/WaitingForInjectionSnapshot"}, msg: map[string]string{"MeshEnrolled": "has not published"}},
		},
		"no single control plane answers": {
			obs: observed{Decision: enrollment.Decision{Reason: virtv1alpha1.ReasonAmbiguous, Message: "2 MeshControlPlanes match"}, Waiting: "2 MeshControlPlanes match; the launcher pod is created once"},
			want: want{phase: virtv1alpha1.Pending, conditions: map[string]string{"Ready": "False/WaitingForMesh", "MeshEnrolled": "False/AmbiguousControlPlane"},
				msg: map[string]string{"MeshEnrolled": "created once"}},
		},
		"render failed": {
			obs:  observed{Decision: notMember, RenderErr: "bad annotation"},
			want: want{phase: virtv1alpha1.Pending, conditions: map[string]string{"Ready": "False/RenderFailed"}, msg: map[string]string{"Ready": "bad annotation"}},
		},
		"pod unscheduled": {
			obs:  observed{Decision: notMember, Pod: makePod().obj()},
			want: want{phase: virtv1alpha1.Scheduling, conditions: map[string]string{"PodScheduled": "False/PodPending", "Ready": "False/PodNotReady", "MeshEnrolled": "False/NotMember"}},
		},
		"pod bound": {
			obs:  observed{Decision: notMember, Pod: makePod().node("n1").cond(corev1.PodScheduled, corev1.ConditionTrue).obj()},
			want: want{phase: virtv1alpha1.Scheduled, nodeName: "n1", conditions: map[string]string{"PodScheduled": "True/PodScheduled"}},
		},
		"compute running and ready, in the mesh": {
			obs: observed{Decision: member, Pod: makePod().node("n1").phase(corev1.PodRunning).computeRunning().ip("10.1.2.3").mesh(true).
				cond(corev1.PodScheduled, corev1.ConditionTrue).cond(corev1.PodReady, corev1.ConditionTrue).obj()},
			want: want{phase: virtv1alpha1.Running, nodeName: "n1", ip: "10.1.2.3", snapshot: "istio-system/basic-injection-1234567890",
				conditions: map[string]string{"Ready": "True/PodReady", "MeshEnrolled": "True/NamespaceMember", "ProxyReady": "True/ProxyReady"}},
		},
		"proxy not ready": {
			obs:  observed{Decision: member, Pod: makePod().node("n1").phase(corev1.PodRunning).computeRunning().mesh(false).cond(corev1.PodReady, corev1.ConditionFalse).obj()},
			want: want{phase: virtv1alpha1.Running, nodeName: "n1", conditions: map[string]string{"Ready": "False/PodNotReady", "ProxyReady": "False/ProxyNotReady"}},
		},
		"namespace left the mesh after the pod was created": {
			obs:  observed{Decision: notMember, Pod: makePod().node("n1").mesh(true).obj()},
			want: want{phase: virtv1alpha1.Scheduled, nodeName: "n1", conditions: map[string]string{"MeshEnrolled": "True/EnrolledAtCreation"}, msg: map[string]string{"MeshEnrolled": "keeps its proxy"}},
		},
		"namespace joined the mesh after the pod was created": {
			obs:  observed{Decision: member, Pod: makePod().node("n1").obj()},
			want: want{phase: virtv1alpha1.Scheduled, nodeName: "n1", conditions: map[string]string{"MeshEnrolled": "False/NotEnrolledAtCreation"}, msg: map[string]string{"MeshEnrolled": "recreate it"}},
		},
		"pod succeeded": {
			prior: virtv1alpha1.VirtualMachineInstanceStatus{Phase: virtv1alpha1.Running},
			obs:   observed{Decision: notMember, Pod: makePod().node("n1").phase(corev1.PodSucceeded).obj()},
			want:  want{phase: virtv1alpha1.Succeeded, nodeName: "n1", conditions: map[string]string{"Ready": "False/Succeeded"}},
		},
		"pod failed": {
			prior: virtv1alpha1.VirtualMachineInstanceStatus{Phase: virtv1alpha1.Running},
			obs:   observed{Decision: notMember, Pod: makePod().node("n1").phase(corev1.PodFailed).computeExited(1, "qemu: could not open disk").obj()},
			want: want{phase: virtv1alpha1.Failed, nodeName: "n1", conditions: map[string]string{"Ready": "False/Failed", "Failure": "True/PodFailed"},
				msg: map[string]string{"Failure": "compute exited with code 1: qemu: could not open disk"}},
		},
		"pod lost": {
			prior: virtv1alpha1.VirtualMachineInstanceStatus{Phase: virtv1alpha1.Running, LauncherPod: "virt-launcher-vm-abcde", NodeName: "n1"},
			obs:   observed{Decision: notMember, PodLost: true},
			want: want{phase: virtv1alpha1.Failed, nodeName: "n1", conditions: map[string]string{"Failure": "True/PodLost", "Ready": "False/PodLost"},
				msg: map[string]string{"Failure": "launcher pod virt-launcher-vm-abcde was deleted or lost while the VMI was Running"}},
		},
		"terminal phases stick": {
			prior: virtv1alpha1.VirtualMachineInstanceStatus{Phase: virtv1alpha1.Failed},
			obs:   observed{Decision: notMember, Pod: makePod().node("n1").phase(corev1.PodRunning).computeRunning().obj()},
			want:  want{phase: virtv1alpha1.Failed},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := vb.MakeVMI("vm").UID("uid-1")
			if tc.claims {
				w.PVC("data", "data", false)
			}
			vmi := w.Obj()
			vmi.Generation = 1
			vmi.Status = tc.prior
			got := computeStatus(vmi, tc.obs, now)
			if got.Phase != tc.want.phase {
				t.Errorf("phase = %s, want %s", got.Phase, tc.want.phase)
			}
			if got.NodeName != tc.want.nodeName || (tc.want.snapshot != "" && got.MeshSnapshot != tc.want.snapshot) {
				t.Errorf("nodeName/meshSnapshot = %q/%q, want %q/%q", got.NodeName, got.MeshSnapshot, tc.want.nodeName, tc.want.snapshot)
			}
			if tc.want.ip != "" && (len(got.Interfaces) != 1 || got.Interfaces[0].IP != tc.want.ip || got.Interfaces[0].MAC == "") {
				t.Errorf("interfaces = %+v, want ip %s and a MAC", got.Interfaces, tc.want.ip)
			}
			for typ, sr := range tc.want.conditions {
				c := meta.FindStatusCondition(got.Conditions, typ)
				if c == nil {
					t.Errorf("no %s condition", typ)
					continue
				}
				if diff := cmp.Diff(sr, string(c.Status)+"/"+c.Reason); diff != "" {
					t.Errorf("%s (-want +got): %s (%s)", typ, diff, c.Message)
				}
				if c.ObservedGeneration != 1 || c.Message == "" {
					t.Errorf("%s: observedGeneration %d, message %q", typ, c.ObservedGeneration, c.Message)
				}
			}
			for typ, sub := range tc.want.msg {
				if c := meta.FindStatusCondition(got.Conditions, typ); c == nil || !strings.Contains(c.Message, sub) {
					t.Errorf("%s message lacks %q: %+v", typ, sub, c)
				}
			}
			if tc.prior.Phase != tc.want.phase {
				n := len(got.PhaseTransitionTimestamps)
				if n == 0 || got.PhaseTransitionTimestamps[n-1].Phase != tc.want.phase {
					t.Errorf("no phase transition timestamp for %s", tc.want.phase)
				}
			}
			// Recomputing from the result changes nothing: no status churn.
			vmi.Status = got
			if again := computeStatus(vmi, tc.obs, metav1.NewTime(now.Add(time.Minute))); !cmp.Equal(got, again) {
				t.Errorf("status not stable:\n%s", cmp.Diff(got, again))
			}
		})
	}
}

// TestSetReady: Ready's message says what Ready means for this VMI: the
// guest answers its readinessProbe, or only that QEMU runs it.
func TestSetReady(t *testing.T) {
	ready := makePod().node("n1").phase(corev1.PodRunning).computeRunning().cond(corev1.PodReady, corev1.ConditionTrue).obj()
	notReady := makePod().node("n1").phase(corev1.PodRunning).computeRunning().cond(corev1.PodReady, corev1.ConditionFalse).obj()
	cases := map[string]struct {
		in   conditionInput
		want string // "Status/Reason"
		msg  string
	}{
		"no probe: QEMU runs":      {in: conditionInput{observed: observed{Pod: ready}}, want: "True/PodReady", msg: "QEMU runs the guest and launcher pod virt-launcher-vm-abcde is ready; without a readinessProbe this does not mean a service in the guest answers"},
		"probe: the guest answers": {in: conditionInput{observed: observed{Pod: ready}, readinessProbe: true}, want: "True/PodReady", msg: "the guest answers its readinessProbe and launcher pod virt-launcher-vm-abcde is ready"},
		"probe: not answering yet": {in: conditionInput{observed: observed{Pod: notReady}, readinessProbe: true}, want: "False/PodNotReady", msg: "compute is ready only while the guest answers its readinessProbe"},
		"no probe: not ready":      {in: conditionInput{observed: observed{Pod: notReady}}, want: "False/PodNotReady", msg: "launcher pod virt-launcher-vm-abcde is not ready"},
		"lost, a VM's run":         {in: conditionInput{observed: observed{PodLost: true}, runOfVM: true, priorPhase: virtv1alpha1.Running}, want: "False/PodLost", msg: "its VirtualMachine starts a new run as its runStrategy says"},
		"lost, a VMI of its own":   {in: conditionInput{observed: observed{PodLost: true}, priorPhase: virtv1alpha1.Running}, want: "False/PodLost", msg: "create a new VirtualMachineInstance, or run it as a VirtualMachine"},
		"failed: deleted, then failed by pod GC": {in: conditionInput{observed: observed{Pod: func() *corev1.Pod {
			p := makePod().phase(corev1.PodFailed).obj()
			p.DeletionTimestamp = &metav1.Time{Time: time.Unix(100, 0)}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "DeletionByPodGC", Message: "PodGC: node no longer exists"}}
			return p
		}()}, phase: virtv1alpha1.Failed}, want: "False/Failed", msg: "launcher pod virt-launcher-vm-abcde failed: DeletionByPodGC PodGC: node no longer exists: the pod was deleted"},
		"failed: the termination reason": {in: conditionInput{observed: observed{Pod: makePod().phase(corev1.PodFailed).computeExited(1, "livenessProbe (tcpSocket 10.0.2.2:9080) failed 3 times in a row").obj()}, phase: virtv1alpha1.Failed}, want: "False/Failed", msg: "livenessProbe (tcpSocket 10.0.2.2:9080) failed 3 times in a row"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var conds []metav1.Condition
			setReady(&conds, tc.in)
			c := meta.FindStatusCondition(conds, virtv1alpha1.ConditionReady)
			if diff := cmp.Diff(tc.want, string(c.Status)+"/"+c.Reason); diff != "" {
				t.Fatalf("Ready (-want +got):\n%s", diff)
			}
			if !strings.Contains(c.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", c.Message, tc.msg)
			}
		})
	}
}

func TestSetPodScheduled(t *testing.T) {
	unschedulable := makePod().obj()
	unschedulable.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes are available"}}
	prior := []metav1.Condition{{Type: virtv1alpha1.ConditionPodScheduled, Status: metav1.ConditionTrue, Reason: virtv1alpha1.ReasonPodScheduled}}
	cases := map[string]struct {
		in    conditionInput
		prior []metav1.Condition
		want  string // "Status/Reason", "" = unset
		msg   string
	}{
		"no pod":            {in: conditionInput{}, want: "False/NoLauncherPod"},
		"waits":             {in: conditionInput{observed: observed{Pod: makePod().obj()}}, want: "False/PodPending", msg: "waits for the scheduler"},
		"bound":             {in: conditionInput{observed: observed{Pod: makePod().node("n1").obj()}}, want: "True/PodScheduled", msg: "node n1"},
		"unschedulable":     {in: conditionInput{observed: observed{Pod: unschedulable}}, want: "False/Unschedulable", msg: "0/3 nodes are available"},
		"lost keeps status": {in: conditionInput{observed: observed{PodLost: true}}, prior: prior, want: "True/PodScheduled"},
		"lost, never set":   {in: conditionInput{observed: observed{PodLost: true}}, want: ""},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			conds := append([]metav1.Condition(nil), tc.prior...)
			setPodScheduled(&conds, tc.in)
			c := meta.FindStatusCondition(conds, virtv1alpha1.ConditionPodScheduled)
			got := ""
			if c != nil {
				got = string(c.Status) + "/" + c.Reason
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("PodScheduled (-want +got):\n%s", diff)
			}
			if tc.msg != "" && !strings.Contains(c.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", c.Message, tc.msg)
			}
		})
	}
}

func TestSetVolumesReady(t *testing.T) {
	wait := &volumesWait{"data", virtv1alpha1.ReasonPVCNotBound, "PersistentVolumeClaim default/data (volume \"data\") is not bound to a volume yet"}
	prior := []metav1.Condition{{Type: virtv1alpha1.ConditionVolumesReady, Status: metav1.ConditionFalse, Reason: virtv1alpha1.ReasonPVCNotFound, Message: "does not exist"}}
	cases := map[string]struct {
		in    conditionInput
		prior []metav1.Condition
		want  string // "Status/Reason", "" = unset
		msg   string
	}{
		"no claims":                {in: conditionInput{}, want: "True/VolumesReady", msg: "no persistentVolumeClaim volumes"},
		"claim not bound":          {in: conditionInput{claims: 1, observed: observed{VolumesWait: wait}}, want: "False/PersistentVolumeClaimNotBound", msg: "is not bound to a volume yet"},
		"claims resolved, no pod":  {in: conditionInput{claims: 2, observed: observed{ClaimsResolved: true}}, want: "True/VolumesReady", msg: "2 PersistentVolumeClaim(s) are ready"},
		"pod mounts them":          {in: conditionInput{claims: 1, observed: observed{Pod: makePod().obj()}}, prior: prior, want: "True/VolumesReady", msg: "launcher pod virt-launcher-vm-abcde mounts"},
		"not looked at: unchanged": {in: conditionInput{claims: 1}, prior: prior, want: "False/PersistentVolumeClaimNotFound", msg: "does not exist"},
		"not looked at, never set": {in: conditionInput{claims: 1}, want: ""},
		"lost keeps status":        {in: conditionInput{claims: 1, observed: observed{PodLost: true}}, prior: prior, want: "False/PersistentVolumeClaimNotFound"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			conds := append([]metav1.Condition(nil), tc.prior...)
			tc.in.generation = 3
			setVolumesReady(&conds, tc.in)
			c := meta.FindStatusCondition(conds, virtv1alpha1.ConditionVolumesReady)
			got := ""
			if c != nil {
				got = string(c.Status) + "/" + c.Reason
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("VolumesReady (-want +got):\n%s", diff)
			}
			if tc.msg != "" && !strings.Contains(c.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", c.Message, tc.msg)
			}
		})
	}
}
