package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
)

// vmiManifest is a small VM outside any mesh (like the cirros sample).
func vmiManifest(ns, name string) string {
	return fmt.Sprintf(`apiVersion: virt.virtmesh.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: %s
  namespace: %s
  labels:
    app: %s
spec:
  terminationGracePeriodSeconds: 5
  domain:
    resources:
      requests:
        memory: 128Mi
    devices:
      disks:
        - name: containerdisk
          disk:
            bus: virtio
      interfaces:
        - name: default
          masquerade: {}
  networks:
    - name: default
      pod: {}
  volumes:
    - name: containerdisk
      containerDisk:
        image: quay.io/kubevirt/cirros-container-disk-demo:v1.9.0
`, name, ns, name)
}

func getVMI(ns, name string) (*virtv1alpha1.VirtualMachineInstance, error) {
	var vmi virtv1alpha1.VirtualMachineInstance
	if err := getJSON([]string{"mvmi", name, "-n", ns}, &vmi); err != nil {
		return nil, err
	}
	return &vmi, nil
}

func waitVMIReady(t *testing.T, ns string, names ...string) {
	t.Helper()
	args := []string{"wait", "--for=condition=Ready", "-n", ns, "--timeout=90s"}
	for _, n := range names {
		args = append(args, "virtualmachineinstances.virt.virtmesh.io/"+n)
	}
	if out, errOut, err := kubectlRun("", args...); err != nil {
		desc, _, _ := kubectlRun("", "describe", "mvmi", "-n", ns)
		t.Fatalf("kubectl %s: %v\n%s%s\n%s", strings.Join(args, " "), err, out, errOut, desc)
	}
}

// TestLauncherPodDeleted: a VMI is one run of a VM, so losing its launcher pod
// fails it (with a reason saying so) instead of restarting it.
func TestLauncherPodDeleted(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "e2e-podgone")
	kubectlIn(t, vmiManifest(ns, "vm"), "apply", "-f", "-")
	waitVMIReady(t, ns, "vm")
	pod := launcherPod(t, ns, "vm")

	kubectl(t, "delete", "pod", pod.Name, "-n", ns, "--wait=false")

	var vmi *virtv1alpha1.VirtualMachineInstance
	eventually(t, 60*time.Second, "VMI Failed after its launcher pod was deleted", func() error {
		var err error
		vmi, err = getVMI(ns, "vm")
		if err != nil {
			return err
		}
		if vmi.Status.Phase != virtv1alpha1.Failed {
			return fmt.Errorf("phase %q, conditions %+v", vmi.Status.Phase, vmi.Status.Conditions)
		}
		return nil
	})
	ready := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse {
		t.Errorf("Failed VMI's Ready condition %+v, want False", ready)
	}
	failure := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionFailure)
	if failure == nil || failure.Status != metav1.ConditionTrue || failure.Reason == "" || failure.Message == "" {
		t.Errorf("Failed VMI's %s condition %+v, want True with a reason and a message", virtv1alpha1.ConditionFailure, failure)
	} else {
		t.Logf("Failure: reason %s, message %q", failure.Reason, failure.Message)
		if !strings.Contains(strings.ToLower(failure.Reason+" "+failure.Message), "pod") {
			t.Errorf("Failure condition %s: %q does not say the launcher pod went away", failure.Reason, failure.Message)
		}
	}
	// Not restarted: no new launcher pod.
	eventually(t, 30*time.Second, "no launcher pod for the Failed VMI", func() error {
		pods, err := launcherPods(ns, "vm")
		if err != nil {
			return err
		}
		if len(pods) != 0 {
			return fmt.Errorf("%d launcher pods: %s (deletionTimestamp %v)", len(pods), pods[0].Name, pods[0].DeletionTimestamp)
		}
		return nil
	})
	if vmi2, err := getVMI(ns, "vm"); err != nil || vmi2.Status.Phase != virtv1alpha1.Failed {
		t.Errorf("VMI left Failed: %v %+v", err, vmi2)
	}
}

// TestVMIDeleted: deleting the VMI removes its launcher pod.
func TestVMIDeleted(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t, "e2e-vmigone")
	kubectlIn(t, vmiManifest(ns, "vm"), "apply", "-f", "-")
	waitVMIReady(t, ns, "vm")
	pod := launcherPod(t, ns, "vm")

	kubectl(t, "delete", "mvmi", "vm", "-n", ns, "--timeout=60s")
	eventually(t, 60*time.Second, "launcher pod gone after the VMI was deleted", func() error {
		out, errOut, err := kubectlRun("", "get", "pod", pod.Name, "-n", ns, "--ignore-not-found", "-o", "name")
		if err != nil {
			return fmt.Errorf("%v: %s", err, errOut)
		}
		if strings.TrimSpace(out) != "" {
			return fmt.Errorf("%s still exists", out)
		}
		return nil
	})
}

// TestMeshControlPlaneDeleted: deleting a MeshControlPlane removes what it
// rendered (namespaced and cluster-scoped), its injection snapshots and the
// membership labels it put on member namespaces.
func TestMeshControlPlaneDeleted(t *testing.T) {
	t.Parallel()
	meshNS := newNamespace(t, "e2e-mesh")
	member := newNamespace(t, "e2e-member")
	mcp := uniqueName("mesh")
	kubectlIn(t, fmt.Sprintf(`apiVersion: mesh.virtmesh.io/v1alpha1
kind: MeshControlPlane
metadata:
  name: %s
  namespace: %s
spec:
  version: 1.30.0
  members:
    namespaces:
      - %s
`, mcp, meshNS, member), "apply", "-f", "-")
	start := time.Now()
	kubectl(t, "wait", "--for=condition=Reconciled", "mcp/"+mcp, "-n", meshNS, "--timeout=120s")
	t.Logf("mcp %s/%s Reconciled after %s", meshNS, mcp, time.Since(start).Round(100*time.Millisecond))
	waitNoIstiod(t, meshNS, mcp)

	checkControlPlaneDeployments(t, meshNS, mcp, []string{"istiod"})
	memberOf := meshNS + "." + mcp
	eventually(t, 30*time.Second, "member namespace labelled", func() error {
		var ns corev1.Namespace
		if err := getJSON([]string{"namespace", member}, &ns); err != nil {
			return err
		}
		if ns.Labels[meshv1alpha1.LabelInjection] != "enabled" || ns.Labels[meshv1alpha1.LabelMemberOf] != memberOf {
			return fmt.Errorf("labels %v, want %s=enabled, %s=%s", ns.Labels, meshv1alpha1.LabelInjection, meshv1alpha1.LabelMemberOf, memberOf)
		}
		return nil
	})
	snapshots := func() (int, error) {
		var list corev1.ConfigMapList
		err := getJSON([]string{"configmaps", "-n", meshNS, "-l", injection.LabelSnapshot + "=true," + injection.LabelControlPlane + "=" + mcp}, &list)
		return len(list.Items), err
	}
	if n, err := snapshots(); err != nil || n == 0 {
		t.Errorf("injection snapshots of %s: %d (%v), want at least one", mcp, n, err)
	}
	ownerSel := "mesh.virtmesh.io/owner-namespace=" + meshNS + ",mesh.virtmesh.io/owner-name=" + mcp
	var crs rbacv1.ClusterRoleList
	if err := getJSON([]string{"clusterroles", "-l", ownerSel}, &crs); err != nil {
		t.Fatal(err)
	}
	if len(crs.Items) == 0 {
		t.Logf("no cluster-scoped ClusterRoles labelled %s (nothing cluster-scoped to check)", ownerSel)
	}

	start = time.Now()
	kubectl(t, "delete", "mcp", mcp, "-n", meshNS, "--timeout=90s")
	t.Logf("kubectl delete mcp returned after %s", time.Since(start).Round(100*time.Millisecond))

	eventually(t, 90*time.Second, "everything of the deleted MeshControlPlane gone", func() error {
		var deps appsv1.DeploymentList
		if err := getJSON([]string{"deployments", "-n", meshNS, "-l", meshLabelControlPlane + "=" + mcp}, &deps); err != nil {
			return err
		}
		if len(deps.Items) != 0 {
			return fmt.Errorf("%d Deployments left, e.g. %s", len(deps.Items), deps.Items[0].Name)
		}
		for _, kind := range []string{"services", "configmaps", "serviceaccounts"} {
			out, errOut, err := kubectlRun("", "get", kind, "-n", meshNS, "-l", meshLabelControlPlane+"="+mcp, "-o", "name")
			if err != nil {
				return fmt.Errorf("%v: %s", err, errOut)
			}
			if strings.TrimSpace(out) != "" {
				return fmt.Errorf("%s left: %s", kind, strings.Join(strings.Fields(out), " "))
			}
		}
		if n, err := snapshots(); err != nil || n != 0 {
			return fmt.Errorf("%d injection snapshots left (%v)", n, err)
		}
		for _, kind := range []string{"clusterroles", "clusterrolebindings"} {
			out, errOut, err := kubectlRun("", "get", kind, "-l", ownerSel, "-o", "name")
			if err != nil {
				return fmt.Errorf("%v: %s", err, errOut)
			}
			if strings.TrimSpace(out) != "" {
				return fmt.Errorf("%s left: %s", kind, strings.Join(strings.Fields(out), " "))
			}
		}
		var ns corev1.Namespace
		if err := getJSON([]string{"namespace", member}, &ns); err != nil {
			return err
		}
		for _, l := range []string{meshv1alpha1.LabelInjection, meshv1alpha1.LabelRevision, meshv1alpha1.LabelMemberOf} {
			if v, ok := ns.Labels[l]; ok {
				return fmt.Errorf("member namespace %s still has label %s=%s", member, l, v)
			}
		}
		return nil
	})
	t.Logf("everything gone %s after the delete", time.Since(start).Round(100*time.Millisecond))
}

// TestOperatorRestart kills the operator (SIGKILL) while it is creating
// launcher pods, creates more VMIs while it is down, starts it again and
// expects every VMI to converge with exactly one launcher pod.
// It is not parallel: it runs before the parallel tests, alone.
func TestOperatorRestart(t *testing.T) {
	ns := newNamespace(t, "e2e-restart")
	t.Cleanup(func() {
		if !operatorRunning() {
			if out, err := script(2*time.Minute, "operator-start"); err != nil {
				t.Errorf("restarting the operator after the test: %v\n%s", err, out)
			}
		}
	})

	first := []string{"vm-0", "vm-1", "vm-2", "vm-3"}
	var manifest strings.Builder
	for _, n := range first {
		manifest.WriteString(vmiManifest(ns, n) + "---\n")
	}
	kubectlIn(t, manifest.String(), "apply", "-f", "-")
	// Mid-run: as soon as the operator has made the first launcher pod.
	eventually(t, 60*time.Second, "a first launcher pod", func() error {
		var list corev1.PodList
		if err := getJSON([]string{"pods", "-n", ns}, &list); err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return fmt.Errorf("no pods yet")
		}
		return nil
	})
	pid := operatorPID(t)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	eventually(t, 10*time.Second, "operator process gone", func() error {
		if syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("pid %d still alive", pid)
		}
		return nil
	})

	// Work that arrives while the operator is down.
	more := []string{"vm-4", "vm-5"}
	manifest.Reset()
	for _, n := range more {
		manifest.WriteString(vmiManifest(ns, n) + "---\n")
	}
	kubectlIn(t, manifest.String(), "apply", "-f", "-")

	if out, err := script(2*time.Minute, "operator-start"); err != nil {
		t.Fatalf("hack/local-cluster.sh operator-start: %v\n%s", err, out)
	}
	all := append(append([]string{}, first...), more...)
	waitVMIReady(t, ns, all...)

	var list corev1.PodList
	if err := getJSON([]string{"pods", "-n", ns}, &list); err != nil {
		t.Fatal(err)
	}
	perVMI := map[string][]string{}
	for _, p := range list.Items {
		perVMI[p.Labels[virtv1alpha1.LabelVMI]] = append(perVMI[p.Labels[virtv1alpha1.LabelVMI]], p.Name)
	}
	for _, n := range all {
		vmi, err := getVMI(ns, n)
		if err != nil {
			t.Fatal(err)
		}
		pods := perVMI[n]
		if len(pods) != 1 {
			t.Errorf("VMI %s: %d launcher pods %v, want 1", n, len(pods), pods)
			continue
		}
		if vmi.Status.Phase != virtv1alpha1.Running {
			t.Errorf("VMI %s phase %q, want Running", n, vmi.Status.Phase)
		}
		if vmi.Status.LauncherPod != "" && vmi.Status.LauncherPod != pods[0] {
			t.Errorf("VMI %s status.launcherPod %q, pod %q", n, vmi.Status.LauncherPod, pods[0])
		}
	}
	if len(list.Items) != len(all) {
		t.Errorf("%d pods in %s for %d VMIs: %v", len(list.Items), ns, len(all), perVMI)
	}
}

func operatorPID(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, "manager.pid"))
	if err != nil {
		t.Fatalf("operator pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("operator pid file: %v", err)
	}
	return pid
}

func operatorRunning() bool {
	b, err := os.ReadFile(filepath.Join(stateDir, "manager.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && syscall.Kill(pid, 0) == nil
}

// waitNoIstiod: with no istiod running for it (kwok runs none; only
// mcp/basic gets the host's), a MeshControlPlane is not Ready although kwok
// calls its Deployments available, and says what is missing.
func waitNoIstiod(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "mcp "+name+" not Ready for want of istiod's CA", func() error {
		var mcp meshv1alpha1.MeshControlPlane
		if err := getJSON([]string{"mcp", name, "-n", ns}, &mcp); err != nil {
			return err
		}
		c := meta.FindStatusCondition(mcp.Status.Conditions, meshv1alpha1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionFalse || c.Reason != meshv1alpha1.ReasonRootCertNotPublished ||
			!strings.Contains(c.Message, "istiod has not created its CA yet") {
			return fmt.Errorf("Ready is %+v", c)
		}
		return nil
	})
}

// TestMeshMemberCreatedWithVMI applies a MeshControlPlane, its member namespace
// and a VMI in it in one `kubectl apply`, as `kubectl apply -k config/samples`
// does: the VMI is expected in the mesh (MeshEnrolled True, an istio-proxy
// sidecar), whichever of the operator's reconciles runs first.
func TestMeshMemberCreatedWithVMI(t *testing.T) {
	t.Parallel()
	meshNS, member, mcp := uniqueName("e2e-mesh"), uniqueName("e2e-member"), uniqueName("mesh")
	t.Cleanup(func() {
		_, _, _ = kubectlRun("", "delete", "namespace", meshNS, member, "--wait=false", "--ignore-not-found")
	})
	kubectlIn(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: mesh.virtmesh.io/v1alpha1
kind: MeshControlPlane
metadata:
  name: %[3]s
  namespace: %[1]s
spec:
  version: 1.30.0
  members:
    namespaces:
      - %[2]s
---
apiVersion: v1
kind: Namespace
metadata:
  name: %[2]s
---
%[4]s`, meshNS, member, mcp, vmiManifest(member, "vm")), "apply", "-f", "-")
	kubectl(t, "wait", "--for=condition=Reconciled", "mcp/"+mcp, "-n", meshNS, "--timeout=120s")
	waitVMIReady(t, member, "vm")
	vmi, err := getVMI(member, "vm")
	if err != nil {
		t.Fatal(err)
	}
	enrolled := meta.FindStatusCondition(vmi.Status.Conditions, virtv1alpha1.ConditionMeshEnrolled)
	if enrolled == nil || enrolled.Status != metav1.ConditionTrue {
		t.Errorf("VMI created together with its mesh and member namespace is not in the mesh: %s %+v", virtv1alpha1.ConditionMeshEnrolled, enrolled)
	}
	pod := launcherPod(t, member, "vm")
	hasProxy := false
	for _, c := range pod.Spec.InitContainers {
		hasProxy = hasProxy || c.Name == "istio-proxy"
	}
	if !hasProxy {
		t.Errorf("launcher pod %s has no istio-proxy sidecar", pod.Name)
	}
}
