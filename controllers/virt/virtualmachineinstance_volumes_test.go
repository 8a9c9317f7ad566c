package virt

import (
	"context"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

// storageClass creates a cluster-wide StorageClass named after the test's
// namespace (classes outlive namespaces) and returns its name.
func storageClass(t *testing.T, ns string, mode storagev1.VolumeBindingMode) string {
	t.Helper()
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + strings.ToLower(string(mode))}, Provisioner: "example.com/none", VolumeBindingMode: &mode}
	create(t, sc)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sc) })
	return sc.Name
}

// claim builds a 2Gi ReadWriteOnce claim in class ("" for none).
func claim(ns, name, class string) *corev1.PersistentVolumeClaim {
	return &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("2Gi")}},
		},
	}
}

// bind does what the PersistentVolume controller does when it binds the
// claim (envtest runs none): phase Bound, with the volume's capacity.
func bind(t *testing.T, ns, name, capacity string) {
	t.Helper()
	pvc := &corev1.PersistentVolumeClaim{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, pvc); err != nil {
		t.Fatal(err)
	}
	pvc.Status.Phase = corev1.ClaimBound
	pvc.Status.AccessModes = pvc.Spec.AccessModes
	pvc.Status.Capacity = corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(capacity)}
	if err := env.Client.Status().Update(context.Background(), pvc); err != nil {
		t.Fatal(err)
	}
}

// assertNoPod fails when the VMI has a launcher pod.
func assertNoPod(t *testing.T, ns, name string) {
	t.Helper()
	if pods := launcherPods(t, ns, name); len(pods) != 0 {
		t.Fatalf("launcher pod %s created while the VMI waits for its claim", pods[0].Name)
	}
}

// checkClaimPod checks the launcher pod mounts the claim as volume "data"
// with fsGroup 107, and compute creates disk.img at the claim's size less
// the filesystem's share.
func checkClaimPod(t *testing.T, pod *corev1.Pod, claimName, capacity string) {
	t.Helper()
	found := false
	for _, v := range pod.Spec.Volumes {
		if v.Name == podcontract.PVCVolumeName("data") && v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == claimName {
			found = true
		}
	}
	if !found {
		t.Errorf("pod volumes %+v: want %s from claim %s", pod.Spec.Volumes, podcontract.PVCVolumeName("data"), claimName)
	}
	if fg := pod.Spec.SecurityContext.FSGroup; fg == nil || *fg != podcontract.QEMUUID {
		t.Errorf("fsGroup %v, want %d", fg, podcontract.QEMUUID)
	}
	co, ok := launcherpod.ComputeOptions(pod)
	want := podcontract.PersistentDisk{Volume: "data", Path: podcontract.PVCDiskImagePath("data"), Size: launcherpod.DiskImageSize(resource.MustParse(capacity))}
	if !ok || len(co.PersistentDisks) != 1 || co.PersistentDisks[0] != want {
		t.Errorf("compute's persistent disks %+v, want %+v", co.PersistentDisks, want)
	}
}

// A VMI whose claim is missing stays Pending without a pod, saying which
// claim to create; an unbound claim keeps it there; binding it creates the
// pod — each step through the PersistentVolumeClaim watch, never a poll.
func TestClaimMissingThenBound(t *testing.T) {
	counter := startController(t)
	ns := newNamespace(t, nil)
	class := storageClass(t, ns, storagev1.VolumeBindingImmediate)
	create(t, vb.MakeVMI("db").Namespace(ns).PVC("data", "db-data", false).Obj())

	c := waitCondition(t, ns, "db", virtv1alpha1.ConditionVolumesReady, metav1.ConditionFalse, virtv1alpha1.ReasonPVCNotFound)
	if want := fmt.Sprintf("PersistentVolumeClaim %s/db-data (volume \"data\") does not exist: create it", ns); !strings.Contains(c.Message, want) {
		t.Errorf("message %q, want it to contain %q", c.Message, want)
	}
	waitCondition(t, ns, "db", virtv1alpha1.ConditionReady, metav1.ConditionFalse, virtv1alpha1.ReasonPVCNotFound)
	if v := getVMI(t, ns, "db"); v.Status.Phase != virtv1alpha1.Pending {
		t.Errorf("phase %s, want Pending", v.Status.Phase)
	}
	assertSettles(t, counter)
	assertNoPod(t, ns, "db")

	create(t, claim(ns, "db-data", class))
	c = waitCondition(t, ns, "db", virtv1alpha1.ConditionVolumesReady, metav1.ConditionFalse, virtv1alpha1.ReasonPVCNotBound)
	if !strings.Contains(c.Message, "is not bound to a volume yet") || !strings.Contains(c.Message, "binds claims immediately") {
		t.Errorf("message %q", c.Message)
	}
	assertSettles(t, counter)
	assertNoPod(t, ns, "db")

	bind(t, ns, "db-data", "3Gi")
	pod := waitOnePod(t, ns, "db")
	checkClaimPod(t, pod, "db-data", "3Gi")
	waitCondition(t, ns, "db", virtv1alpha1.ConditionVolumesReady, metav1.ConditionTrue, virtv1alpha1.ReasonVolumesReady)
	waitPhase(t, ns, "db", virtv1alpha1.Scheduling)
	assertSettles(t, counter)
}

// A claim of a WaitForFirstConsumer class binds only once a pod using it is
// scheduled: the pod is created while the claim is Pending, sized from the
// request.
func TestClaimWaitForFirstConsumer(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	create(t, claim(ns, "db-data", storageClass(t, ns, storagev1.VolumeBindingWaitForFirstConsumer)))
	create(t, vb.MakeVMI("db").Namespace(ns).PVC("data", "db-data", false).Obj())
	checkClaimPod(t, waitOnePod(t, ns, "db"), "db-data", "2Gi")
	waitCondition(t, ns, "db", virtv1alpha1.ConditionVolumesReady, metav1.ConditionTrue, virtv1alpha1.ReasonVolumesReady)
}

// A claim naming a class that does not exist yet waits; creating the class
// (WaitForFirstConsumer) brings the VMI back through the StorageClass watch.
func TestClaimStorageClassCreatedLater(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	late := ns + "-late"
	create(t, claim(ns, "db-data", late))
	create(t, vb.MakeVMI("db").Namespace(ns).PVC("data", "db-data", false).Obj())
	c := waitCondition(t, ns, "db", virtv1alpha1.ConditionVolumesReady, metav1.ConditionFalse, virtv1alpha1.ReasonPVCNotBound)
	if !strings.Contains(c.Message, "its StorageClass "+late+" does not exist") {
		t.Errorf("message %q", c.Message)
	}
	assertNoPod(t, ns, "db")

	wffc := storagev1.VolumeBindingWaitForFirstConsumer
	sc := &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: late}, Provisioner: "example.com/none", VolumeBindingMode: &wffc}
	create(t, sc)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), sc) })
	checkClaimPod(t, waitOnePod(t, ns, "db"), "db-data", "2Gi")
}

// A Block-mode claim is refused with a condition that says why and what to
// do, and no pod: VirtMesh keeps disks as disk.img files.
func TestClaimBlockMode(t *testing.T) {
	counter := startController(t)
	ns := newNamespace(t, nil)
	pvc := claim(ns, "raw", "")
	pvc.Spec.VolumeMode = ptr.To(corev1.PersistentVolumeBlock)
	create(t, pvc)
	bind(t, ns, "raw", "2Gi")
	create(t, vb.MakeVMI("db").Namespace(ns).PVC("data", "raw", false).Obj())
	c := waitCondition(t, ns, "db", virtv1alpha1.ConditionVolumesReady, metav1.ConditionFalse, virtv1alpha1.ReasonPVCBlockMode)
	if !strings.Contains(c.Message, "has volumeMode Block") || !strings.Contains(c.Message, "recreate the claim with volumeMode: Filesystem") {
		t.Errorf("message %q", c.Message)
	}
	waitCondition(t, ns, "db", virtv1alpha1.ConditionReady, metav1.ConditionFalse, virtv1alpha1.ReasonPVCBlockMode)
	assertSettles(t, counter)
	assertNoPod(t, ns, "db")
}

// A VirtualMachine shows its run's wait for a claim as KubeVirt does
// (printableStatus ErrorPvcNotFound) and mirrors VolumesReady.
func TestVMWaitsForClaim(t *testing.T) {
	startControllers(t, true)
	ns := newNamespace(t, nil)
	vm := vb.MakeVM("db").Namespace(ns).Obj()
	vmi := vb.MakeVMI("db").PVC("data", "db-data", false).Obj()
	vm.Spec.Template.Spec = vmi.Spec
	create(t, vm)
	v := waitVM(t, ns, "db", "ErrorPvcNotFound", printable(virtv1alpha1.PrintablePvcNotFound))
	if c := findCondition(v.Status.Conditions, virtv1alpha1.ConditionVolumesReady); c == nil || c.Reason != virtv1alpha1.ReasonPVCNotFound {
		t.Errorf("VolumesReady %+v, want the VMI's, mirrored", c)
	}
	create(t, claim(ns, "db-data", storageClass(t, ns, storagev1.VolumeBindingWaitForFirstConsumer)))
	checkClaimPod(t, waitOnePod(t, ns, "db"), "db-data", "2Gi")
}

func findCondition(conds []metav1.Condition, t string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}
