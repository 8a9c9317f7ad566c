package virt

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testenv"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}
}

func waiting() corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}
}

func TestPhaseTransitions(t *testing.T) {
	counter := startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("cirros").Namespace(ns).Label("app", "cirros").Obj())

	pod := waitOnePod(t, ns, "cirros")
	v := waitPhase(t, ns, "cirros", virtv1alpha1.Scheduling)
	if v.Status.LauncherPod != pod.Name || !strings.HasPrefix(pod.Name, "virt-launcher-cirros-") {
		t.Errorf("status.launcherPod = %q, pod %q", v.Status.LauncherPod, pod.Name)
	}
	if pod.Labels["app"] != "cirros" || metav1.GetControllerOf(pod).UID != v.UID {
		t.Errorf("pod labels %v, owner %v", pod.Labels, pod.OwnerReferences)
	}
	waitCondition(t, ns, "cirros", virtv1alpha1.ConditionPodScheduled, metav1.ConditionFalse, virtv1alpha1.ReasonPodPending)
	waitCondition(t, ns, "cirros", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, "NotMember")
	assertSettles(t, counter)

	k := kubelet{t: t, pod: pod}
	k.bind("node-1")
	v = waitPhase(t, ns, "cirros", virtv1alpha1.Scheduled)
	if v.Status.NodeName != "node-1" {
		t.Errorf("nodeName = %q", v.Status.NodeName)
	}
	waitCondition(t, ns, "cirros", virtv1alpha1.ConditionPodScheduled, metav1.ConditionTrue, virtv1alpha1.ReasonPodScheduled)

	k.setStatus(corev1.PodRunning, running(), false)
	waitPhase(t, ns, "cirros", virtv1alpha1.Running)
	waitCondition(t, ns, "cirros", virtv1alpha1.ConditionReady, metav1.ConditionFalse, virtv1alpha1.ReasonPodNotReady)

	k.setStatus(corev1.PodRunning, running(), true)
	waitCondition(t, ns, "cirros", virtv1alpha1.ConditionReady, metav1.ConditionTrue, virtv1alpha1.ReasonPodReady)
	v = getVMI(t, ns, "cirros")
	if len(v.Status.Interfaces) != 1 || v.Status.Interfaces[0].IP != "10.244.1.7" || v.Status.Interfaces[0].MAC == "" {
		t.Errorf("interfaces = %+v", v.Status.Interfaces)
	}
	assertSettles(t, counter)

	k.setStatus(corev1.PodSucceeded, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}, false)
	v = waitPhase(t, ns, "cirros", virtv1alpha1.Succeeded)
	var phases []virtv1alpha1.VirtualMachineInstancePhase
	for _, p := range v.Status.PhaseTransitionTimestamps {
		phases = append(phases, p.Phase)
	}
	if fmt.Sprint(phases) != "[Scheduling Scheduled Running Succeeded]" {
		t.Errorf("phase transitions = %v", phases)
	}
	if v.Status.ObservedGeneration != v.Generation {
		t.Errorf("observedGeneration %d, generation %d", v.Status.ObservedGeneration, v.Generation)
	}
	assertSettles(t, counter)
	if n := len(launcherPods(t, ns, "cirros")); n != 1 {
		t.Errorf("%d launcher pods, want 1", n)
	}
}

func TestPodFailed(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("broken").Namespace(ns).Obj())
	k := kubelet{t: t, pod: waitOnePod(t, ns, "broken")}
	k.bind("node-1")
	k.setStatus(corev1.PodFailed, corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Message: "disk containerdisk: no image file in /disk"}}, false)
	waitPhase(t, ns, "broken", virtv1alpha1.Failed)
	c := waitCondition(t, ns, "broken", virtv1alpha1.ConditionFailure, metav1.ConditionTrue, virtv1alpha1.ReasonPodFailed)
	if !strings.Contains(c.Message, "no image file in /disk") {
		t.Errorf("failure message = %q", c.Message)
	}
}

func TestLostPodFailsVMI(t *testing.T) {
	counter := startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("lost").Namespace(ns).Obj())
	pod := waitOnePod(t, ns, "lost")
	k := kubelet{t: t, pod: pod}
	k.bind("node-1")
	k.setStatus(corev1.PodRunning, running(), true)
	waitPhase(t, ns, "lost", virtv1alpha1.Running)

	if err := env.Client.Delete(context.Background(), pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "lost", virtv1alpha1.Failed)
	c := waitCondition(t, ns, "lost", virtv1alpha1.ConditionFailure, metav1.ConditionTrue, virtv1alpha1.ReasonPodLost)
	if !strings.Contains(c.Message, pod.Name) || !strings.Contains(c.Message, "Running") {
		t.Errorf("message = %q", c.Message)
	}
	assertSettles(t, counter)
	if n := len(launcherPods(t, ns, "lost")); n != 0 {
		t.Errorf("a lost pod was re-created: %d pods", n)
	}
}

// staleReader hides every pod from List, like a cache that has not seen a
// pod created a moment ago.
type staleReader struct{ client.Client }

func (s staleReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*corev1.PodList); ok {
		return nil
	}
	return s.Client.List(ctx, list, opts...)
}

func TestNoDuplicatePodAfterRestartOrStaleCache(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("once").Namespace(ns).Obj())
	req := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "once"}}
	rec := events.NewFakeRecorder(100)
	newReconciler := func(c client.Client, apiReader client.Reader) *VirtualMachineInstanceReconciler {
		// Past the hold-back window: each reconcile writes its status.
		later := func() time.Time { return time.Now().Add(coalesceWindow + time.Second) }
		return &VirtualMachineInstanceReconciler{Client: c, Scheme: env.Scheme, APIReader: apiReader, Recorder: rec, LauncherImage: testLauncherImage, Now: later}
	}

	// First operator: creates the pod, then "crashes" before its status
	// patch lands (we wipe the status).
	if _, err := newReconciler(env.Client, env.Client).Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	pods := launcherPods(t, ns, "once")
	if len(pods) != 1 {
		t.Fatalf("%d pods after the first reconcile", len(pods))
	}
	v := getVMI(t, ns, "once")
	v.Status = virtv1alpha1.VirtualMachineInstanceStatus{}
	if err := env.Client.Status().Update(ctx, v); err != nil {
		t.Fatal(err)
	}

	// A restarted operator whose cache has not seen the pod: the create
	// fails with AlreadyExists (the name is derived from the VMI's UID) and
	// the pod is adopted.
	if _, err := newReconciler(staleReader{env.Client}, env.Client).Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The same when the API reader's lists are stale too.
	if _, err := newReconciler(staleReader{env.Client}, staleReader{env.Client}).Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	if got := launcherPods(t, ns, "once"); len(got) != 1 || got[0].UID != pods[0].UID {
		t.Fatalf("want the one original pod, got %d pods", len(got))
	}
	if v := getVMI(t, ns, "once"); v.Status.LauncherPod != pods[0].Name || v.Status.Phase != virtv1alpha1.Scheduling {
		t.Errorf("status = %s/%s, want the adopted pod %s", v.Status.Phase, v.Status.LauncherPod, pods[0].Name)
	}

	// And the real controller, started now, keeps it at one.
	counter := startController(t)
	assertSettles(t, counter)
	if got := launcherPods(t, ns, "once"); len(got) != 1 {
		t.Fatalf("%d pods after the controller started", len(got))
	}
}

func TestDeleteVMIDeletesPod(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("gone").Namespace(ns).GracePeriod(45).Obj())
	pod := waitOnePod(t, ns, "gone")
	kubelet{t: t, pod: pod}.bind("node-1") // bound pods terminate gracefully
	waitPhase(t, ns, "gone", virtv1alpha1.Scheduled)

	if err := env.Client.Delete(context.Background(), getVMI(t, ns, "gone")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "launcher pod deleting", func() error {
		p := &corev1.Pod{}
		if err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(pod), p); err != nil {
			return client.IgnoreNotFound(err)
		}
		if p.DeletionTimestamp == nil {
			return fmt.Errorf("pod not being deleted")
		}
		if g := p.DeletionGracePeriodSeconds; g == nil || *g != 45+podcontract.TerminationGraceMargin {
			return fmt.Errorf("deletion grace period %v, want %d", g, 45+podcontract.TerminationGraceMargin)
		}
		return nil
	})
}

func publishSnapshot(t *testing.T, mcp *meshv1alpha1.MeshControlPlane) string {
	t.Helper()
	ctx := context.Background()
	s := injection.Settings{
		ControlPlaneNamespace: mcp.Namespace, ControlPlaneName: mcp.Name, Revision: mcp.Spec.Revision,
		ProxyImage: "docker.io/istio/proxyv2:1.30.0", ProxyLogLevel: "warning",
		DiscoveryAddress: "istiod." + mcp.Namespace + ".svc:15012", ClusterID: "Kubernetes", TrustDomain: "cluster.local",
		RootCertConfigMap: "istio-ca-root-cert", ProxyUID: 1337, ProxyGID: 1337, InboundCapturePort: 15006, OutboundCapturePort: 15001,
		IncludeOutboundIPRanges: []string{"*"},
	}
	cm, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	create(t, cm)
	mcp.Status.InjectionSnapshot = cm.Name
	if err := env.Client.Status().Update(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	return cm.Name
}

func TestMeshEnrollment(t *testing.T) {
	ctx := context.Background()
	counter := startController(t)
	cpNS := newNamespace(t, nil)
	basic := mcpbuilder.Make("basic", cpNS).Obj()
	create(t, basic)
	// Other tests (or -count=2) must not see a second default control plane.
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), basic) })
	snapshot := publishSnapshot(t, basic)

	// Not a member: no proxy.
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("before").Namespace(ns).Obj())
	pod := waitOnePod(t, ns, "before")
	if len(pod.Spec.InitContainers) != 2 {
		t.Errorf("non-member pod has %d init containers", len(pod.Spec.InitContainers))
	}
	waitCondition(t, ns, "before", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, "NotMember")

	// The namespace joins the mesh: the running VMI says it would now be
	// enrolled, a new VMI is enrolled.
	nsObj := &corev1.Namespace{}
	if err := env.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		t.Fatal(err)
	}
	nsObj.Labels[meshv1alpha1.LabelInjection] = "enabled"
	if err := env.Client.Update(ctx, nsObj); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, ns, "before", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, virtv1alpha1.ReasonNotEnrolledAtCreate)

	create(t, vb.MakeVMI("details").Namespace(ns).Label("app", "details").Label("version", "v1").Port("http", 9080).Obj())
	pod = waitOnePod(t, ns, "details")
	if n := len(pod.Spec.InitContainers); n != 3 || pod.Spec.InitContainers[2].Name != podcontract.ContainerProxy {
		t.Fatalf("enrolled pod init containers: %d", n)
	}
	if pod.Labels["security.istio.io/tlsMode"] != "istio" || pod.Labels["service.istio.io/canonical-name"] != "details" {
		t.Errorf("mesh labels missing: %v", pod.Labels)
	}
	c := waitCondition(t, ns, "details", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionTrue, "NamespaceMember")
	if !strings.Contains(c.Message, cpNS+"/basic") {
		t.Errorf("MeshEnrolled message = %q", c.Message)
	}
	if v := getVMI(t, ns, "details"); v.Status.MeshSnapshot != cpNS+"/"+snapshot {
		t.Errorf("meshSnapshot = %q, want %s/%s", v.Status.MeshSnapshot, cpNS, snapshot)
	}
	waitCondition(t, ns, "details", virtv1alpha1.ConditionProxyReady, metav1.ConditionFalse, virtv1alpha1.ReasonProxyNotReady)
	k := kubelet{t: t, pod: pod}
	k.bind("node-1")
	k.setStatus(corev1.PodRunning, running(), true)
	waitCondition(t, ns, "details", virtv1alpha1.ConditionProxyReady, metav1.ConditionTrue, virtv1alpha1.ReasonProxyReady)

	// Opt-out in a member namespace.
	create(t, vb.MakeVMI("plain").Namespace(ns).NoMesh().Obj())
	if pod := waitOnePod(t, ns, "plain"); len(pod.Spec.InitContainers) != 2 {
		t.Errorf("opted-out pod has a proxy")
	}
	waitCondition(t, ns, "plain", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, "OptedOut")

	// Opt-in from a namespace that is not a member.
	outside := newNamespace(t, nil)
	create(t, vb.MakeVMI("joiner").Namespace(outside).Mesh().Obj())
	if pod := waitOnePod(t, outside, "joiner"); len(pod.Spec.InitContainers) != 3 {
		t.Errorf("opted-in pod has no proxy")
	}
	waitCondition(t, outside, "joiner", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionTrue, "OptedIn")
	assertSettles(t, counter)
}

func TestWaitsForInjectionSnapshot(t *testing.T) {
	counter := startController(t)
	cpNS := newNamespace(t, nil)
	ns := newNamespace(t, map[string]string{meshv1alpha1.LabelRevision: "canary"})
	create(t, vb.MakeVMI("early").Namespace(ns).Obj())

	// No control plane answers the namespace's label yet: wait, do not run
	// the VM outside the mesh it asked for.
	c := waitCondition(t, ns, "early", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, "ControlPlaneNotFound")
	if !strings.Contains(c.Message, "created once exactly one MeshControlPlane matches") {
		t.Errorf("message = %q", c.Message)
	}
	canary := mcpbuilder.Make("canary", cpNS).Revision("canary").Obj()
	create(t, canary)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), canary) })

	waitPhase(t, ns, "early", virtv1alpha1.Pending)
	c = waitCondition(t, ns, "early", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, virtv1alpha1.ReasonWaitingSnapshot)
	if !strings.Contains(c.Message, "has not published") {
		t.Errorf("message = %q", c.Message)
	}
	assertSettles(t, counter)
	if n := len(launcherPods(t, ns, "early")); n != 0 {
		t.Fatalf("%d pods created before the snapshot", n)
	}

	publishSnapshot(t, canary) // the MeshControlPlane watch brings the VMI back
	pod := waitOnePod(t, ns, "early")
	if len(pod.Spec.InitContainers) != 3 || pod.Labels["istio.io/rev"] != "canary" {
		t.Errorf("pod not enrolled in canary: %d init containers, labels %v", len(pod.Spec.InitContainers), pod.Labels)
	}
	waitCondition(t, ns, "early", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionTrue, "NamespaceMember")
	waitPhase(t, ns, "early", virtv1alpha1.Scheduling)
}

func TestRenderFailureIsReported(t *testing.T) {
	counter := startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("badports").Namespace(ns).Port("http", 80).
		Annotation(virtv1alpha1.AnnotationExcludeInboundPorts, "http").Obj())
	c := waitCondition(t, ns, "badports", virtv1alpha1.ConditionReady, metav1.ConditionFalse, virtv1alpha1.ReasonRenderFailed)
	if !strings.Contains(c.Message, "is not a port number") {
		t.Errorf("message = %q", c.Message)
	}
	assertSettles(t, counter)
	// Fixing the annotation brings the VMI back and the pod is created.
	v := getVMI(t, ns, "badports")
	v.Annotations[virtv1alpha1.AnnotationExcludeInboundPorts] = "80"
	if err := env.Client.Update(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	waitOnePod(t, ns, "badports")
}

func TestKubectl(t *testing.T) {
	startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("kubectl-vm").Namespace(ns).Obj())
	pod := waitOnePod(t, ns, "kubectl-vm")
	k := kubelet{t: t, pod: pod}
	k.bind("node-7")
	k.setStatus(corev1.PodRunning, waiting(), false)

	kubeconfig, err := env.Kubeconfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	kubectl := filepath.Join(testenv.RepoRoot(), "bin", "kubectl")
	run := func(args ...string) *exec.Cmd {
		return exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig, "-n", ns}, args...)...)
	}

	// kubectl wait, started before the VM is ready, returns once it is.
	wait := run("wait", "--for=condition=Ready", "virtualmachineinstances.virt.virtmesh.io/kubectl-vm", "--timeout=30s")
	var waitOut bytes.Buffer
	wait.Stdout, wait.Stderr = &waitOut, &waitOut
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	k.setStatus(corev1.PodRunning, running(), true)
	if err := wait.Wait(); err != nil {
		t.Fatalf("kubectl wait: %v\n%s", err, waitOut.String())
	}
	if !strings.Contains(waitOut.String(), "condition met") {
		t.Errorf("kubectl wait: %s", waitOut.String())
	}

	out, err := run("get", "mvmi").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get mvmi: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get mvmi:\n%s", out)
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	want := []string{"NAME", "AGE", "PHASE", "IP", "NODENAME", "READY", "MESH"}
	if fmt.Sprint(header) != fmt.Sprint(want) {
		t.Errorf("header = %v, want %v", header, want)
	}
	if len(row) != len(want) || row[0] != "kubectl-vm" || row[2] != "Running" || row[3] != "10.244.1.7" || row[4] != "node-7" || row[5] != "True" || row[6] != "False" {
		t.Errorf("row = %v\n%s", row, out)
	}
	t.Logf("kubectl get mvmi:\n%s", out)
}

// TestDeclaredMemberCreatedWithVMI is the `kubectl apply` of a
// MeshControlPlane, its member namespaces and a VMI in each at once: no mesh
// controller labels the namespaces (none runs here), yet the VMIs are
// enrolled because the control plane's spec declares the membership. They
// wait for the injection snapshot and are created with the proxy.
func TestDeclaredMemberCreatedWithVMI(t *testing.T) {
	counter := startController(t)
	cpNS := newNamespace(t, nil)
	id := utilrand.String(6)
	listed, selected := "declared-"+id, "selected-"+id
	mcp := mcpbuilder.Make("declared", cpNS).Members(listed).MemberSelector(map[string]string{"declared-test": id}).Obj()
	create(t, mcp)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mcp) })
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: listed}})
	create(t, vb.MakeVMI("vm").Namespace(listed).Obj())
	create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: selected, Labels: map[string]string{"declared-test": id}}})
	create(t, vb.MakeVMI("vm").Namespace(selected).Obj())

	for _, ns := range []string{listed, selected} {
		c := waitCondition(t, ns, "vm", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionFalse, virtv1alpha1.ReasonWaitingSnapshot)
		if !strings.Contains(c.Message, "has not published") {
			t.Errorf("%s: message = %q", ns, c.Message)
		}
	}
	assertSettles(t, counter)
	for _, ns := range []string{listed, selected} {
		if n := len(launcherPods(t, ns, "vm")); n != 0 {
			t.Fatalf("%s: %d pods created before the snapshot", ns, n)
		}
	}

	// Publishing the snapshot updates the MeshControlPlane, whose watch
	// maps to the namespaces its spec claims (they carry no mesh label).
	snapshot := publishSnapshot(t, mcp)
	for _, ns := range []string{listed, selected} {
		pod := waitOnePod(t, ns, "vm")
		hasProxy := false
		for _, c := range pod.Spec.InitContainers {
			hasProxy = hasProxy || c.Name == podcontract.ContainerProxy
		}
		if !hasProxy {
			t.Errorf("%s: launcher pod %s has no %s sidecar", ns, pod.Name, podcontract.ContainerProxy)
		}
		c := waitCondition(t, ns, "vm", virtv1alpha1.ConditionMeshEnrolled, metav1.ConditionTrue, "NamespaceMember")
		if !strings.Contains(c.Message, cpNS+"/declared") {
			t.Errorf("%s: MeshEnrolled message = %q", ns, c.Message)
		}
		if v := getVMI(t, ns, "vm"); v.Status.MeshSnapshot != cpNS+"/"+snapshot {
			t.Errorf("%s: meshSnapshot = %q, want %s/%s", ns, v.Status.MeshSnapshot, cpNS, snapshot)
		}
	}
	nsObj := &corev1.Namespace{}
	if err := env.Client.Get(context.Background(), client.ObjectKey{Name: listed}, nsObj); err != nil {
		t.Fatal(err)
	}
	if _, ok := nsObj.Labels[meshv1alpha1.LabelMemberOf]; ok {
		t.Fatalf("namespace %s got labelled (%v): the test no longer covers unlabelled members", listed, nsObj.Labels)
	}
	assertSettles(t, counter)
}
