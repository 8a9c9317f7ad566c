package virt

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

var planNow = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// runVMI is the VM's VMI in phase, with Ready as given.
func runVMI(uid string, phase virtv1alpha1.VirtualMachineInstancePhase, ready bool) *virtv1alpha1.VirtualMachineInstance {
	v := vb.MakeVMI("vm").UID(uid).Obj()
	v.Status.Phase = phase
	s := metav1.ConditionFalse
	if ready {
		s = metav1.ConditionTrue
	}
	v.Status.Conditions = []metav1.Condition{{Type: virtv1alpha1.ConditionReady, Status: s}}
	return v
}

// restartRun is a running VMI started for restart request req.
func restartRun(uid, req string) *virtv1alpha1.VirtualMachineInstance {
	v := runVMI(uid, virtv1alpha1.Running, true)
	v.Annotations = map[string]string{virtv1alpha1.AnnotationRestartRequestedAt: req}
	return v
}

func failedRecord(uid string, n int32, retry time.Time) *virtv1alpha1.VirtualMachineStartFailure {
	t := metav1.NewTime(retry)
	return &virtv1alpha1.VirtualMachineStartFailure{ConsecutiveFailCount: n, LastFailedVMIUID: uid, RetryAfterTimestamp: &t}
}

func TestPlanVM(t *testing.T) {
	deleting := runVMI("a", virtv1alpha1.Running, true)
	deleting.DeletionTimestamp = &metav1.Time{Time: planNow}
	vmDeleting := vb.MakeVM("vm").Obj()
	vmDeleting.DeletionTimestamp = &metav1.Time{Time: planNow}
	type want struct {
		action  vmAction
		retryAt time.Time
		handled string
		fails   int32
	}
	cases := map[string]struct {
		vm   *virtv1alpha1.VirtualMachine
		obs  vmObservation
		want want
	}{
		"Always, no run: start":                  {vm: vb.MakeVM("vm").Obj(), want: want{action: actCreate}},
		"running: true is Always":                {vm: vb.MakeVM("vm").Running(true).Obj(), want: want{action: actCreate}},
		"running: false is Halted":               {vm: vb.MakeVM("vm").Running(false).Obj(), want: want{action: actNone}},
		"Always, running: nothing":               {vm: vb.MakeVM("vm").Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Running, true)}, want: want{action: actNone}},
		"Always, guest shut down: next run":      {vm: vb.MakeVM("vm").Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Succeeded, false)}, want: want{action: actStop}},
		"Always, failed: back-off first":         {vm: vb.MakeVM("vm").Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Failed, false)}, want: want{action: actWait, retryAt: planNow.Add(10 * time.Second), fails: 1}},
		"Always, failed, back-off over: rerun":   {vm: vb.MakeVM("vm").Status(virtv1alpha1.VirtualMachineStatus{StartFailure: failedRecord("a", 1, planNow.Add(-time.Second))}).Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Failed, false)}, want: want{action: actStop, fails: 1}},
		"Always, second failure: 20s back-off":   {vm: vb.MakeVM("vm").Status(virtv1alpha1.VirtualMachineStatus{StartFailure: failedRecord("a", 1, planNow.Add(-time.Minute))}).Obj(), obs: vmObservation{VMI: runVMI("b", virtv1alpha1.Failed, false)}, want: want{action: actWait, retryAt: planNow.Add(20 * time.Second), fails: 2}},
		"no run, back-off pending: wait":         {vm: vb.MakeVM("vm").Status(virtv1alpha1.VirtualMachineStatus{StartFailure: failedRecord("a", 3, planNow.Add(time.Minute))}).Obj(), want: want{action: actWait, retryAt: planNow.Add(time.Minute), fails: 3}},
		"a ready run clears the failures":        {vm: vb.MakeVM("vm").Status(virtv1alpha1.VirtualMachineStatus{StartFailure: failedRecord("a", 3, planNow.Add(-time.Minute))}).Obj(), obs: vmObservation{VMI: runVMI("b", virtv1alpha1.Running, true)}, want: want{action: actNone}},
		"old pod still going: wait":              {vm: vb.MakeVM("vm").Obj(), obs: vmObservation{PodsRemain: true}, want: want{action: actWait}},
		"run stopping: wait":                     {vm: vb.MakeVM("vm").Obj(), obs: vmObservation{VMI: deleting}, want: want{action: actWait}},
		"RerunOnFailure, clean end: stays":       {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyRerunOnFailure).Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Succeeded, false)}, want: want{action: actNone}},
		"RerunOnFailure, failed: back-off":       {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyRerunOnFailure).Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Failed, false)}, want: want{action: actWait, retryAt: planNow.Add(10 * time.Second), fails: 1}},
		"Once, no run: start":                    {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyOnce).Obj(), want: want{action: actCreate}},
		"Once, failed: kept":                     {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyOnce).Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Failed, false)}, want: want{action: actNone, fails: 1}},
		"Halted, running: stop":                  {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyHalted).Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Running, true)}, want: want{action: actStop}},
		"Halted, no run: nothing":                {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyHalted).Obj(), want: want{action: actNone}},
		"Manual, no run: nothing":                {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyManual).Obj(), want: want{action: actNone}},
		"Manual, restart request: start":         {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyManual).RestartRequest("1").Obj(), want: want{action: actCreate, handled: "1"}},
		"Manual, running, restart: stop":         {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyManual).RestartRequest("2").Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Running, true)}, want: want{action: actStop}},
		"Always, restart, run gone: start":       {vm: vb.MakeVM("vm").RestartRequest("2").Obj(), want: want{action: actCreate, handled: "2"}},
		"restart request already handled":        {vm: vb.MakeVM("vm").RestartRequest("2").Status(virtv1alpha1.VirtualMachineStatus{RestartRequestHandled: "2"}).Obj(), obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Running, true)}, want: want{action: actNone}},
		"the run answers the restart (stale VM)": {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyManual).RestartRequest("2").Obj(), obs: vmObservation{VMI: restartRun("b", "2")}, want: want{action: actNone, handled: "2"}},
		"the run answers an older restart":       {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyManual).RestartRequest("3").Obj(), obs: vmObservation{VMI: restartRun("b", "2")}, want: want{action: actStop}},
		"Halted wins over a restart request":     {vm: vb.MakeVM("vm").RunStrategy(virtv1alpha1.RunStrategyHalted).RestartRequest("3").Obj(), want: want{action: actNone}},
		"foreign VMI: hands off":                 {vm: vb.MakeVM("vm").Obj(), obs: vmObservation{Foreign: runVMI("x", virtv1alpha1.Running, true)}, want: want{action: actNone}},
		"VM deleted, running: stop":              {vm: vmDeleting, obs: vmObservation{VMI: runVMI("a", virtv1alpha1.Running, true)}, want: want{action: actStop}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			p := planVM(tc.vm, tc.obs, planNow)
			var fails int32
			if p.StartFailure != nil {
				fails = p.StartFailure.ConsecutiveFailCount
			}
			got := want{action: p.Action, retryAt: p.RetryAt, handled: p.RestartHandled, fails: fails}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("planVM (-want +got), why %q:\n%s", p.Why, diff)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	var got []time.Duration
	for n := int32(1); n <= 7; n++ {
		got = append(got, backoff(n))
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
}

func TestVMIFor(t *testing.T) {
	vm := vb.MakeVM("details").Namespace("bookinfo").UID("7c9e6679-7425-40de-944b-e07fc1f90ae7").TemplateLabel("app", "details").Obj()
	a, err := vmiFor(vm, "")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "details" || a.Namespace != "bookinfo" || a.Labels["app"] != "details" || a.Labels[virtv1alpha1.LabelVM] != "details" {
		t.Errorf("VMI %s/%s labels %v", a.Namespace, a.Name, a.Labels)
	}
	if ref := metav1.GetControllerOf(a); ref == nil || ref.UID != types.UID("7c9e6679-7425-40de-944b-e07fc1f90ae7") || ref.Kind != "VirtualMachine" {
		t.Errorf("controller reference %+v", ref)
	}
	b, _ := vmiFor(vm, "")
	if a.Spec.Domain.Firmware == nil || a.Spec.Domain.Firmware.UUID == "" || a.Spec.Domain.Firmware.UUID != b.Spec.Domain.Firmware.UUID {
		t.Errorf("firmware UUID %+v: want one stable per VM", a.Spec.Domain.Firmware)
	}
	other := vm.DeepCopy()
	other.Spec.Template.Spec.Hostname = "changed"
	c, _ := vmiFor(other, "")
	if c.Annotations[virtv1alpha1.AnnotationTemplateHash] == a.Annotations[virtv1alpha1.AnnotationTemplateHash] {
		t.Error("a changed template keeps its hash")
	}
	if _, ok := a.Annotations[virtv1alpha1.AnnotationRestartRequestedAt]; ok {
		t.Error("a run not started for a restart request carries one")
	}
	if d, _ := vmiFor(vm, "5"); d.Annotations[virtv1alpha1.AnnotationRestartRequestedAt] != "5" {
		t.Errorf("a run started for restart request 5 carries %q", d.Annotations[virtv1alpha1.AnnotationRestartRequestedAt])
	}
	if vm.Spec.Template.Spec.Domain.Firmware != nil {
		t.Error("vmiFor changed the VM's template")
	}
}
