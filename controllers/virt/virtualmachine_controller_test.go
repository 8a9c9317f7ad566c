package virt

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

// The envtest API server has no kubelet: the tests play it (kubelet{}), and a
// pod deleted after it was bound stays until the "kubelet" confirms it
// (podGone).

func getVM(t *testing.T, ns, name string) *virtv1alpha1.VirtualMachine {
	t.Helper()
	vm := &virtv1alpha1.VirtualMachine{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, vm); err != nil {
		t.Fatal(err)
	}
	return vm
}

// waitVM waits until the VM's status satisfies ok; what describes it.
func waitVM(t *testing.T, ns, name, what string, ok func(*virtv1alpha1.VirtualMachine) bool) *virtv1alpha1.VirtualMachine {
	t.Helper()
	var vm *virtv1alpha1.VirtualMachine
	eventually(t, "VM "+name+": "+what, func() error {
		vm = getVM(t, ns, name)
		if !ok(vm) {
			return fmt.Errorf("status %s created=%v ready=%v failures=%+v conditions=%+v", vm.Status.PrintableStatus, vm.Status.Created, vm.Status.Ready, vm.Status.StartFailure, vm.Status.Conditions)
		}
		return nil
	})
	return vm
}

func printable(s virtv1alpha1.VirtualMachinePrintableStatus) func(*virtv1alpha1.VirtualMachine) bool {
	return func(vm *virtv1alpha1.VirtualMachine) bool { return vm.Status.PrintableStatus == s }
}

// waitRun waits for a VMI of the VM other than previous (a UID, "" for any)
// and returns it.
func waitRun(t *testing.T, ns, name string, previous types.UID) *virtv1alpha1.VirtualMachineInstance {
	t.Helper()
	var vmi *virtv1alpha1.VirtualMachineInstance
	eventually(t, "a new run of "+name, func() error {
		v := &virtv1alpha1.VirtualMachineInstance{}
		if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, v); err != nil {
			return err
		}
		if v.UID == previous || v.DeletionTimestamp != nil {
			return fmt.Errorf("still run %s", v.UID)
		}
		vmi = v
		return nil
	})
	return vmi
}

// runPod plays scheduler and kubelet: the run's pod is bound and Running.
func runPod(t *testing.T, ns, name string, ready bool) kubelet {
	t.Helper()
	k := kubelet{t: t, pod: waitOnePod(t, ns, name)}
	k.bind("node-1")
	k.setStatus(corev1.PodRunning, running(), ready)
	return k
}

// podGone plays the kubelet confirming a graceful pod deletion: it waits for
// the pods of run (owned by that VMI; bound, so they stay terminating) to be
// deleted and removes them. A later run's pod is left alone.
func podGone(t *testing.T, ns, name string, run types.UID) {
	t.Helper()
	eventually(t, "the launcher pod of "+name+" terminating", func() error {
		left := 0
		for _, pod := range launcherPods(t, ns, name) {
			if !ownedBy(&pod, run) {
				continue
			}
			if pod.DeletionTimestamp == nil {
				return fmt.Errorf("pod %s not deleted", pod.Name)
			}
			err := env.Client.Delete(context.Background(), &pod, client.GracePeriodSeconds(0))
			if client.IgnoreNotFound(err) != nil {
				return err
			}
			left++
		}
		if left > 0 {
			return fmt.Errorf("%d pods were still there", left)
		}
		return nil
	})
}

func ownedBy(obj metav1.Object, uid types.UID) bool {
	for _, ref := range obj.GetOwnerReferences() {
		if ref.UID == uid {
			return true
		}
	}
	return false
}

func setRunStrategy(t *testing.T, ns, name string, s virtv1alpha1.RunStrategy) {
	t.Helper()
	vm := getVM(t, ns, name)
	patch := client.MergeFrom(vm.DeepCopy())
	vm.Spec.RunStrategy = &s
	if err := env.Client.Patch(context.Background(), vm, patch); err != nil {
		t.Fatal(err)
	}
}

func requestRestart(t *testing.T, ns, name, value string) {
	t.Helper()
	vm := getVM(t, ns, name)
	patch := client.MergeFrom(vm.DeepCopy())
	if vm.Annotations == nil {
		vm.Annotations = map[string]string{}
	}
	vm.Annotations[virtv1alpha1.AnnotationRestartRequestedAt] = value
	if err := env.Client.Patch(context.Background(), vm, patch); err != nil {
		t.Fatal(err)
	}
}

// TestVMAlwaysRunsAgainAfterEveryEnd: a guest shutdown and a lost pod (node
// loss, eviction) both end the run; with Always a new one starts, after the
// old pod is gone, with the same SMBIOS identity.
func TestVMAlwaysRunsAgainAfterEveryEnd(t *testing.T) {
	_, vmCounter := startControllers(t, true)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVM("web").Namespace(ns).TemplateLabel("app", "web").Obj())

	first := waitRun(t, ns, "web", "")
	vm := getVM(t, ns, "web")
	if ref := metav1.GetControllerOf(first); ref == nil || ref.UID != vm.UID {
		t.Fatalf("VMI controller reference %+v, want the VM", ref)
	}
	if first.Labels["app"] != "web" || first.Labels[virtv1alpha1.LabelVM] != "web" || first.Annotations[virtv1alpha1.AnnotationTemplateHash] == "" {
		t.Errorf("VMI labels %v annotations %v", first.Labels, first.Annotations)
	}
	waitVM(t, ns, "web", "Starting", printable(virtv1alpha1.PrintableStarting))
	k := runPod(t, ns, "web", true)
	vm = waitVM(t, ns, "web", "Running and ready", func(vm *virtv1alpha1.VirtualMachine) bool {
		return vm.Status.PrintableStatus == virtv1alpha1.PrintableRunning && vm.Status.Ready && vm.Status.Created
	})
	if c := meta.FindStatusCondition(vm.Status.Conditions, virtv1alpha1.ConditionPodScheduled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("PodScheduled not mirrored: %+v", vm.Status.Conditions)
	}
	assertSettles(t, vmCounter)

	// The guest powers off: the run Succeeded (its completed pod goes at
	// once); Always starts another one.
	k.setStatus(corev1.PodSucceeded, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, false)
	second := waitRun(t, ns, "web", first.UID)
	if second.Spec.Domain.Firmware == nil || first.Spec.Domain.Firmware == nil || second.Spec.Domain.Firmware.UUID != first.Spec.Domain.Firmware.UUID {
		t.Errorf("firmware UUID changed between runs: %+v, %+v", first.Spec.Domain.Firmware, second.Spec.Domain.Firmware)
	}

	// The node is lost: the pod disappears, the run Failed (PodLost); the
	// first failure waits 10s before the next run.
	k = runPod(t, ns, "web", true)
	start := time.Now()
	if err := env.Client.Delete(context.Background(), k.pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	vm = waitVM(t, ns, "web", "CrashLoopBackOff", printable(virtv1alpha1.PrintableCrashLoopBackOff))
	if f := vm.Status.StartFailure; f == nil || f.ConsecutiveFailCount != 1 || f.LastFailedVMIUID != string(second.UID) {
		t.Fatalf("startFailure %+v", f)
	}
	if c := meta.FindStatusCondition(vm.Status.Conditions, virtv1alpha1.ConditionFailure); c == nil || c.Reason != virtv1alpha1.ReasonPodLost {
		t.Errorf("Failure not mirrored: %+v", vm.Status.Conditions)
	}
	third := waitRunWithin(t, ns, "web", second.UID, 30*time.Second)
	if waited := time.Since(start); waited < 9*time.Second {
		t.Errorf("the next run started %s after the failure, before the 10s back-off", waited)
	}
	// A second failure in a row doubles the back-off.
	k = runPod(t, ns, "web", false)
	k.setStatus(corev1.PodFailed, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "QEMU crashed"}}, false)
	vm = waitVM(t, ns, "web", "a second failure", func(vm *virtv1alpha1.VirtualMachine) bool {
		return vm.Status.StartFailure != nil && vm.Status.StartFailure.ConsecutiveFailCount == 2
	})
	if wait := time.Until(vm.Status.StartFailure.RetryAfterTimestamp.Time); wait < 15*time.Second || wait > 21*time.Second {
		t.Errorf("second back-off ends in %s, want about 20s", wait)
	}
	_ = third
	assertSettles(t, vmCounter)
}

func waitRunWithin(t *testing.T, ns, name string, previous types.UID, d time.Duration) *virtv1alpha1.VirtualMachineInstance {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := &virtv1alpha1.VirtualMachineInstance{}
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, v)
		if err == nil && v.UID != previous && v.DeletionTimestamp == nil {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("no new run of %s within %s (last: %v)", name, d, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestVMRerunOnFailureAndOnce: a clean end stays stopped under
// RerunOnFailure; nothing restarts under Once.
func TestVMRerunOnFailureAndOnce(t *testing.T) {
	startControllers(t, true)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVM("batch").Namespace(ns).RunStrategy(virtv1alpha1.RunStrategyRerunOnFailure).Obj())
	create(t, vb.MakeVM("once").Namespace(ns).RunStrategy(virtv1alpha1.RunStrategyOnce).Obj())

	batch := waitRun(t, ns, "batch", "")
	k := runPod(t, ns, "batch", true)
	k.setStatus(corev1.PodSucceeded, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0}}, false)
	waitVM(t, ns, "batch", "Stopped after a clean end", printable(virtv1alpha1.PrintableStopped))

	once := waitRun(t, ns, "once", "")
	k = runPod(t, ns, "once", true)
	k.setStatus(corev1.PodFailed, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}, false)
	waitVM(t, ns, "once", "Stopped after its one run", printable(virtv1alpha1.PrintableStopped))

	time.Sleep(2 * time.Second)
	for name, uid := range map[string]types.UID{"batch": batch.UID, "once": once.UID} {
		if got := getVMI(t, ns, name); got.UID != uid {
			t.Errorf("%s: a new run started (%s), want the ended one kept", name, got.UID)
		}
	}
}

// TestVMHaltedAndManual: Halted stops the run gracefully; Always starts it
// again; Manual starts and restarts only on request; a template change is
// RestartRequired until the next run.
func TestVMHaltedAndManual(t *testing.T) {
	_, vmCounter := startControllers(t, true)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVM("svc").Namespace(ns).Obj())
	first := waitRun(t, ns, "svc", "")
	runPod(t, ns, "svc", true)
	waitVM(t, ns, "svc", "Running", printable(virtv1alpha1.PrintableRunning))

	setRunStrategy(t, ns, "svc", virtv1alpha1.RunStrategyHalted)
	waitVM(t, ns, "svc", "Stopping while the guest shuts down", printable(virtv1alpha1.PrintableStopping))
	pods := launcherPods(t, ns, "svc")
	if len(pods) != 1 || pods[0].DeletionTimestamp == nil || pods[0].DeletionGracePeriodSeconds == nil || *pods[0].DeletionGracePeriodSeconds != 45 {
		t.Fatalf("want the pod deleted with the VMI's grace period (30+15s): %+v", pods)
	}
	podGone(t, ns, "svc", first.UID)
	waitVM(t, ns, "svc", "Stopped", printable(virtv1alpha1.PrintableStopped))
	assertSettles(t, vmCounter)

	setRunStrategy(t, ns, "svc", virtv1alpha1.RunStrategyManual)
	time.Sleep(time.Second)
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "svc"}, &virtv1alpha1.VirtualMachineInstance{}); !apierrors.IsNotFound(err) {
		t.Fatalf("Manual started a run by itself: %v", err)
	}
	requestRestart(t, ns, "svc", "1")
	second := waitRun(t, ns, "svc", first.UID)
	runPod(t, ns, "svc", true)
	waitVM(t, ns, "svc", "Running", printable(virtv1alpha1.PrintableRunning))

	vm := getVM(t, ns, "svc")
	patch := client.MergeFrom(vm.DeepCopy())
	vm.Spec.Template.Spec.Hostname = "renamed"
	if err := env.Client.Patch(context.Background(), vm, patch); err != nil {
		t.Fatal(err)
	}
	waitVM(t, ns, "svc", "RestartRequired", func(vm *virtv1alpha1.VirtualMachine) bool {
		return meta.IsStatusConditionTrue(vm.Status.Conditions, virtv1alpha1.ConditionRestartRequired)
	})
	requestRestart(t, ns, "svc", "2")
	podGone(t, ns, "svc", second.UID)
	third := waitRun(t, ns, "svc", second.UID)
	if third.Spec.Hostname != "renamed" {
		t.Errorf("the new run's hostname %q, want the changed template's", third.Spec.Hostname)
	}
	waitVM(t, ns, "svc", "the template in use", func(vm *virtv1alpha1.VirtualMachine) bool {
		return meta.IsStatusConditionFalse(vm.Status.Conditions, virtv1alpha1.ConditionRestartRequired) && vm.Status.RestartRequestHandled == "2"
	})
}

// TestVMDeletedDeletesItsRun: deleting the VM deletes its VMI (the garbage
// collector does it on a cluster; the controller does it too).
func TestVMDeletedDeletesItsRun(t *testing.T) {
	startControllers(t, true)
	ns := newNamespace(t, nil)
	vm := vb.MakeVM("gone").Namespace(ns).Obj()
	create(t, vm)
	waitRun(t, ns, "gone", "")
	if err := env.Client.Delete(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the VMI deleted with its VM", func() error {
		err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "gone"}, &virtv1alpha1.VirtualMachineInstance{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("VMI still there: %v", err)
	})
}
