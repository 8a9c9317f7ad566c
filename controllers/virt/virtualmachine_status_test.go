package virt

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

func TestComputeVMStatus(t *testing.T) {
	now := metav1.NewTime(planNow)
	vm := vb.MakeVM("vm").Obj()
	hash, err := templateHash(vm)
	if err != nil {
		t.Fatal(err)
	}
	running := runVMI("a", virtv1alpha1.Running, true)
	running.Annotations = map[string]string{virtv1alpha1.AnnotationTemplateHash: hash}
	running.Status.Conditions = append(running.Status.Conditions,
		metav1.Condition{Type: virtv1alpha1.ConditionMeshEnrolled, Status: metav1.ConditionTrue, Reason: "NamespaceMember", Message: "in the mesh"},
		metav1.Condition{Type: virtv1alpha1.ConditionPodScheduled, Status: metav1.ConditionTrue, Reason: "PodScheduled"})
	running.Status.Conditions[0].Reason = virtv1alpha1.ReasonPodReady
	stale := running.DeepCopy()
	stale.Annotations[virtv1alpha1.AnnotationTemplateHash] = "old"
	unschedulable := runVMI("a", virtv1alpha1.Scheduling, false)
	unschedulable.Status.Conditions = append(unschedulable.Status.Conditions, metav1.Condition{Type: virtv1alpha1.ConditionPodScheduled, Status: metav1.ConditionFalse, Reason: "Unschedulable"})
	pvc := runVMI("a", virtv1alpha1.Pending, false)
	pvc.Status.Conditions[0].Reason = virtv1alpha1.ReasonPVCNotFound
	pvc.Status.Conditions = append(pvc.Status.Conditions, metav1.Condition{Type: virtv1alpha1.ConditionVolumesReady, Status: metav1.ConditionFalse, Reason: virtv1alpha1.ReasonPVCNotFound, Message: "create it"})
	failed := runVMI("a", virtv1alpha1.Failed, false)
	failed.Status.Conditions = append(failed.Status.Conditions, metav1.Condition{Type: virtv1alpha1.ConditionFailure, Status: metav1.ConditionTrue, Reason: "PodLost", Message: "pod lost"})

	type want struct {
		printable  virtv1alpha1.VirtualMachinePrintableStatus
		created    bool
		ready      bool
		conditions map[string]string // type -> Status/Reason, "" = absent
	}
	cases := map[string]struct {
		obs  vmObservation
		plan vmPlan
		want want
	}{
		"stopped": {want: want{printable: virtv1alpha1.PrintableStopped, conditions: map[string]string{"Ready": "False/Stopped", "MeshEnrolled": "", "Failure": ""}}},
		"running, current template": {obs: vmObservation{VMI: running}, want: want{printable: virtv1alpha1.PrintableRunning, created: true, ready: true,
			conditions: map[string]string{"Ready": "True/PodReady", "MeshEnrolled": "True/NamespaceMember", "PodScheduled": "True/PodScheduled", "RestartRequired": "False/TemplateInUse"}}},
		"running, template changed": {obs: vmObservation{VMI: stale}, want: want{printable: virtv1alpha1.PrintableRunning, created: true, ready: true,
			conditions: map[string]string{"RestartRequired": "True/TemplateChanged"}}},
		"unschedulable": {obs: vmObservation{VMI: unschedulable}, want: want{printable: virtv1alpha1.PrintableUnschedulable, created: true}},
		"claim missing": {obs: vmObservation{VMI: pvc}, want: want{printable: virtv1alpha1.PrintablePvcNotFound, created: true,
			conditions: map[string]string{"Ready": "False/PersistentVolumeClaimNotFound", "VolumesReady": "False/PersistentVolumeClaimNotFound"}}},
		"back-off after a failure": {obs: vmObservation{VMI: failed}, plan: vmPlan{Action: actWait, RetryAt: planNow.Add(10 * time.Second), StartFailure: failedRecord("a", 1, planNow.Add(10*time.Second))},
			want: want{printable: virtv1alpha1.PrintableCrashLoopBackOff, created: true, conditions: map[string]string{"Ready": "False/CrashLoopBackOff", "Failure": "True/PodLost"}}},
		"stopping":                    {obs: vmObservation{VMI: running, Stopped: true}, want: want{printable: virtv1alpha1.PrintableStopping, conditions: map[string]string{"Ready": "False/Stopping", "MeshEnrolled": ""}}},
		"last run's pod still around": {obs: vmObservation{PodsRemain: true}, want: want{printable: virtv1alpha1.PrintableStopping}},
		"name taken":                  {obs: vmObservation{Foreign: running}, want: want{printable: virtv1alpha1.PrintableUnknown, conditions: map[string]string{"Ready": "False/VMINameTaken"}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			st := computeVMStatus(vm, tc.obs, tc.plan, now)
			got := want{printable: st.PrintableStatus, created: st.Created, ready: st.Ready, conditions: map[string]string{}}
			for typ := range tc.want.conditions {
				if c := meta.FindStatusCondition(st.Conditions, typ); c != nil {
					got.conditions[typ] = string(c.Status) + "/" + c.Reason
				} else {
					got.conditions[typ] = ""
				}
			}
			if tc.want.conditions == nil {
				got.conditions = nil
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if st.RunStrategy != virtv1alpha1.RunStrategyAlways || st.ObservedGeneration != vm.Generation {
				t.Errorf("runStrategy %q observedGeneration %d", st.RunStrategy, st.ObservedGeneration)
			}
		})
	}
}
