package faults

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/testing/kwokcluster"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

// The manager's leader election settings (main.go's defaults).
const (
	leaseDuration = 30 * time.Second
	renewDeadline = 20 * time.Second
	retryPeriod   = 2 * time.Second
)

// TestOperatorKilledWhileCreating SIGKILLs the operator while 200 VMIs are
// being created (and keeps creating while it is down), then starts it
// again: every VMI gets exactly one launcher pod, no pod is orphaned, all
// run.
func TestOperatorKilledWhileCreating(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "faults-kill")
	restartOperatorAfter(t)
	created := make(chan error, 1)
	go func() { created <- createVMIs(ctx, plainVMI(ns), vmiNames("vm", 0, 200), 0) }()

	// Mid-run: once the operator has made some launcher pods.
	t.Logf("SIGKILL with %d launcher pods created", waitLauncherPods(t, ns, 20, 2*time.Minute))
	if err := operator.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	if err := operator.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitVMIs(t, ns, 200, 3*time.Minute, "all 200 VMIs Running after the restart", running)
	assertOnePodEach(t, ns)
}

// TestPodDeletedWhileOperatorDown is the duplicate window across a crash:
// the operator creates launcher pods and is SIGKILLed before its status
// patches name them, and the pods are deleted while it is down. The pods'
// finalizer (FinalizerLauncherPod) keeps them, terminating, until the
// restarted operator has recorded them; then they go and their VMIs fail as
// PodLost. No VMI whose pod existed gets a second one: its pod name is
// derived from its UID, so a second pod would be a second run under the same
// name. The pods cannot be scheduled (a node selector no node matches), so
// the statuses are held back (coalesceWindow) and the kill lands between
// create and patch every time, not by luck.
func TestPodDeletedWhileOperatorDown(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "faults-window")
	restartOperatorAfter(t)
	unschedulable := func(name string) *virtv1alpha1.VirtualMachineInstance {
		v := plainVMI(ns)(name)
		v.Spec.NodeSelector = map[string]string{"virtmesh.io/no-such-node": "true"}
		return v
	}
	if err := createVMIs(ctx, unschedulable, vmiNames("vm", 0, 20), 0); err != nil {
		t.Fatal(err)
	}
	waitLauncherPods(t, ns, 1, time.Minute)
	if err := operator.Kill(); err != nil {
		t.Fatal(err)
	}
	var pods corev1.PodList
	if err := cluster.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var vmis virtv1alpha1.VirtualMachineInstanceList
	if err := cluster.Client.List(ctx, &vmis, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, v := range vmis.Items {
		if v.Status.LauncherPod != "" {
			recorded[v.Status.LauncherPod] = true
		}
	}
	deleted := map[string]string{} // VMI name -> its pod
	for i := range pods.Items {
		p := &pods.Items[i]
		if !slices.Contains(p.Finalizers, virtv1alpha1.FinalizerLauncherPod) {
			t.Errorf("pod %s has no %s finalizer: %v", p.Name, virtv1alpha1.FinalizerLauncherPod, p.Finalizers)
		}
		if err := cluster.Client.Delete(ctx, p, client.GracePeriodSeconds(0)); err != nil {
			t.Fatal(err)
		}
		deleted[p.Labels[virtv1alpha1.LabelVMI]] = p.Name
	}
	unrecorded := 0
	for _, name := range deleted {
		if !recorded[name] {
			unrecorded++
		}
	}
	t.Logf("SIGKILL with %d launcher pods, %d of them not yet in any status; all deleted", len(pods.Items), unrecorded)
	if unrecorded == 0 {
		t.Fatal("every pod was recorded before the kill: the window was not hit")
	}
	// Held by the finalizer while nobody can record them.
	time.Sleep(2 * time.Second)
	var held corev1.PodList
	if err := cluster.Client.List(ctx, &held, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	if len(held.Items) != len(pods.Items) {
		t.Fatalf("%d of %d deleted pods left while the operator was down; the finalizer must keep them", len(held.Items), len(pods.Items))
	}

	if err := operator.Start(ctx); err != nil {
		t.Fatal(err)
	}
	waitVMIs(t, ns, 20, 2*time.Minute, "the deleted pods' VMIs Failed, the others Scheduling", func(v *virtv1alpha1.VirtualMachineInstance) error {
		if pod, ok := deleted[v.Name]; ok {
			// PodLost when the pod was gone by the time the status was
			// computed; PodFailed naming the deletion when pod GC had marked
			// the terminating (never scheduled) pod Failed first.
			failure := meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionFailure)
			lost := failure != nil && (failure.Reason == virtv1alpha1.ReasonPodLost ||
				failure.Reason == virtv1alpha1.ReasonPodFailed && strings.Contains(failure.Message, "the pod was deleted"))
			if v.Status.Phase != virtv1alpha1.Failed || !lost || v.Status.LauncherPod != pod {
				return fmt.Errorf("phase %q, launcherPod %q, Failure %v; want Failed, %s, PodLost (or PodFailed: deleted)", v.Status.Phase, v.Status.LauncherPod, failure, pod)
			}
			return nil
		}
		if v.Status.Phase != virtv1alpha1.Scheduling {
			return fmt.Errorf("phase %q, want Scheduling", v.Status.Phase)
		}
		return nil
	})
	settle(t, operator, 5*time.Second, time.Minute)
	var after corev1.PodList
	if err := cluster.Client.List(ctx, &after, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for _, p := range after.Items {
		if vmi := p.Labels[virtv1alpha1.LabelVMI]; deleted[vmi] != "" {
			t.Errorf("VMI %s runs a second time: pod %s (its first, %s, was deleted)", vmi, p.Name, deleted[vmi])
		}
	}
	if want := 20 - len(deleted); len(after.Items) != want {
		t.Errorf("%d launcher pods after the restart, want %d (one for each VMI whose pod was not deleted)", len(after.Items), want)
	}
}

// TestAPIServerRestart kills kube-apiserver while VMIs are being created,
// keeps it down for 10 s (etcd keeps running) and starts it again: the
// operator reconnects its watches and converges, without losing or
// duplicating anything.
//
// The operator rides out an outage shorter than its renew deadline (20 s,
// --leader-election-renew-deadline). A longer one (the restart can be slow
// on a loaded machine) makes it give up the lease and exit, by design, so
// that two replicas never both act; the Deployment's kubelet then restarts
// it, as this test does, and an exit after a shorter outage fails the test.
// kube-scheduler and kube-controller-manager (renew deadline 10 s) exit
// too and are restarted the same way.
func TestAPIServerRestart(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "faults-apiserver")
	pid := operator.PID()
	created := make(chan error, 1)
	go func() { created <- createVMIs(ctx, plainVMI(ns), vmiNames("vm", 0, 60), 5) }()
	time.Sleep(3 * time.Second)

	down := time.Now()
	stopped, err := cluster.StopAPIServer()
	if err != nil {
		t.Fatal(err)
	}
	stopping := time.Since(down)
	time.Sleep(10 * time.Second)
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := stopped.Start(sctx); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(down)
	t.Logf("kube-apiserver unavailable for %s (%s to kill, 10 s stopped, then until /readyz)", outage.Round(100*time.Millisecond), stopping.Round(100*time.Millisecond))
	if err := <-created; err != nil {
		t.Fatal(err)
	}
	// Give a replica that lost its lease time to exit.
	time.Sleep(2 * retryPeriod)
	// kube-scheduler and kube-controller-manager give up their leases after
	// 10 s without the API server and exit; their kubelet would restart them.
	restarted, err := stopped.RestartExited()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cluster components restarted after exiting during the outage (as their kubelet would): %v", restarted)
	if got := operator.PID(); got != pid {
		if outage < renewDeadline-retryPeriod {
			t.Errorf("the operator exited (pid %d, now %d) although the outage (%s) was shorter than its renew deadline (%s)", pid, got, outage.Round(100*time.Millisecond), renewDeadline)
		}
		t.Logf("the operator gave up its lease after the %s outage (renew deadline %s) and exited; restarting it as the Deployment would", outage.Round(100*time.Millisecond), renewDeadline)
		if got == 0 {
			if err := operator.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		t.Logf("the operator (pid %d) rode out the outage", pid)
	}
	waitVMIs(t, ns, 60, 3*time.Minute, "all 60 VMIs Running after the API server came back", running)
	assertOnePodEach(t, ns)
}

// TestLeaderKilled runs a second replica with leader election, as the
// manager Deployment does, SIGKILLs the leader and expects the other to take
// the lease within its duration and converge.
func TestLeaderKilled(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t, "faults-leader")
	addr, err := kwokcluster.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	second, err := cluster.StartOperator(ctx, "2", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Stop the second replica first: it hands the lease over on exit.
		if err := second.Stop(context.Background()); err != nil {
			t.Errorf("stop the second replica: %v", err)
		}
		if operator.PID() == 0 {
			if err := operator.Start(context.Background()); err != nil {
				t.Errorf("restart the operator: %v", err)
			}
		}
	})
	if !isLeader(operator) || isLeader(second) {
		t.Fatalf("leader: first %v, second %v; want the first", isLeader(operator), isLeader(second))
	}
	lease := []string{"get", "lease", "-n", "virtmesh-system", "virtmesh-operator.virtmesh.io"}
	holder := kubectl(t, append(lease, "-o", "jsonpath={.spec.holderIdentity}")...)
	t.Logf("before:\n%s", kubectl(t, lease...))

	if err := createVMIs(ctx, plainVMI(ns), vmiNames("vm", 0, 20), 0); err != nil {
		t.Fatal(err)
	}
	waitVMIs(t, ns, 20, 2*time.Minute, "20 VMIs Running under the first leader", running)

	killed := time.Now()
	if err := operator.Kill(); err != nil {
		t.Fatal(err)
	}
	// Work that arrives while nobody leads.
	if err := createVMIs(ctx, plainVMI(ns), vmiNames("vm", 20, 20), 0); err != nil {
		t.Fatal(err)
	}
	// The lease expires leaseDuration after the last renewal the second
	// replica saw; it tries every retryPeriod. The bound is generous (a
	// loaded CI machine) and only catches a takeover that never happens.
	limit := 2 * leaseDuration
	for !isLeader(second) {
		if time.Since(killed) > limit {
			t.Fatalf("the second replica is not leader %s after the leader was killed", limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
	takeover := time.Since(killed)
	now := kubectl(t, append(lease, "-o", "jsonpath={.spec.holderIdentity}")...)
	t.Logf("after (takeover %s after SIGKILL; lease duration %s):\n%s", takeover.Round(100*time.Millisecond), leaseDuration, kubectl(t, lease...))
	if now == holder || now == "" {
		t.Errorf("lease holder %q, was %q: want the second replica", now, holder)
	}
	waitVMIs(t, ns, 40, 2*time.Minute, "all 40 VMIs Running under the new leader", running)
	assertOnePodEach(t, ns)
}

// TestNodeRemoved deletes the (kwok) node under running VMIs: they fail at
// once with a reason naming the node, never staying Running on a node that
// is gone (pod garbage collection deletes the pods only later).
func TestNodeRemoved(t *testing.T) {
	ctx := context.Background()
	name := uniqueName("faults-node")
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels:      map[string]string{"type": "kwok", "faults": name},
	}}
	if err := cluster.Client.Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("32"), corev1.ResourceMemory: resource.MustParse("256Gi"), corev1.ResourcePods: resource.MustParse("110")}
	// kwok updates the node's status as soon as it sees it: retry on conflict.
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(node), node); err != nil {
			return err
		}
		node.Status.Capacity, node.Status.Allocatable = capacity, capacity
		return cluster.Client.Status().Update(ctx, node)
	}); err != nil {
		t.Fatal(err)
	}
	ns := newNamespace(t, "faults-node")
	mk := func(n string) *virtv1alpha1.VirtualMachineInstance {
		return vb.MakeVMI(n).Namespace(ns).NodeSelector("faults", name).GracePeriod(0).Obj()
	}
	if err := createVMIs(ctx, mk, vmiNames("vm", 0, 10), 0); err != nil {
		t.Fatal(err)
	}
	waitVMIs(t, ns, 10, 2*time.Minute, "10 VMIs Running on node "+name, func(v *virtv1alpha1.VirtualMachineInstance) error {
		if err := running(v); err != nil {
			return err
		}
		if v.Status.NodeName != name {
			return fmt.Errorf("on node %q", v.Status.NodeName)
		}
		return nil
	})

	if err := cluster.Client.Delete(ctx, node); err != nil {
		t.Fatal(err)
	}
	// Pod garbage collection waits 40 s before it deletes pods of a
	// missing node; the VMIs must not wait for it.
	waitVMIs(t, ns, 10, 30*time.Second, "10 VMIs Failed after their node was deleted", func(v *virtv1alpha1.VirtualMachineInstance) error {
		if v.Status.Phase != virtv1alpha1.Failed {
			return fmt.Errorf("phase %q", v.Status.Phase)
		}
		c := meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionFailure)
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != virtv1alpha1.ReasonNodeLost || !strings.Contains(c.Message, name) {
			return fmt.Errorf("Failure condition %+v does not name node %s", c, name)
		}
		return nil
	})
	var v virtv1alpha1.VirtualMachineInstance
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vm-0"}, &v); err == nil {
		t.Logf("Failure: %s", meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionFailure).Message)
	}
}

// TestMeshControlPlaneDeleted deletes the MeshControlPlane of 100 running
// meshed VMIs: their MeshEnrolled and ProxyReady conditions say so, they keep
// running, and the operator reconciles each a bounded number of times and
// goes quiet.
func TestMeshControlPlaneDeleted(t *testing.T) {
	ctx := context.Background()
	cpNS := newNamespace(t, "faults-cp")
	member := newNamespace(t, "faults-member")
	mcp := &meshv1alpha1.MeshControlPlane{ObjectMeta: metav1.ObjectMeta{Name: uniqueName("mesh"), Namespace: cpNS}}
	mcp.Spec.Members.Namespaces = []string{member}
	if err := cluster.Client.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var nsObj corev1.Namespace
		if err := cluster.Client.Get(ctx, client.ObjectKeyFromObject(mcp), mcp); err != nil {
			t.Fatal(err)
		}
		if err := cluster.Client.Get(ctx, client.ObjectKey{Name: member}, &nsObj); err != nil {
			t.Fatal(err)
		}
		// No istiod runs here (kwokcluster): Reconciled with a published
		// injection snapshot is what launcher pods are rendered from.
		if meta.IsStatusConditionTrue(mcp.Status.Conditions, meshv1alpha1.ConditionReconciled) && mcp.Status.InjectionSnapshot != "" && nsObj.Labels[meshv1alpha1.LabelMemberOf] == cpNS+"."+mcp.Name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MeshControlPlane not Reconciled with %s a member: %+v, labels %v", member, mcp.Status.Conditions, nsObj.Labels)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if err := createVMIs(ctx, plainVMI(member), vmiNames("vm", 0, 100), 0); err != nil {
		t.Fatal(err)
	}
	waitVMIs(t, member, 100, 3*time.Minute, "100 meshed VMIs Running with a ready proxy", func(v *virtv1alpha1.VirtualMachineInstance) error {
		if err := running(v); err != nil {
			return err
		}
		for _, c := range []string{virtv1alpha1.ConditionMeshEnrolled, virtv1alpha1.ConditionProxyReady} {
			if !meta.IsStatusConditionTrue(v.Status.Conditions, c) {
				return fmt.Errorf("%s not True", c)
			}
		}
		return nil
	})
	before := settle(t, operator, 5*time.Second, time.Minute)

	if err := cluster.Client.Delete(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	cpName := cpNS + "/" + mcp.Name
	waitVMIs(t, member, 100, 2*time.Minute, "100 VMIs say their MeshControlPlane was deleted", func(v *virtv1alpha1.VirtualMachineInstance) error {
		if err := running(v); err != nil {
			return err
		}
		for _, typ := range []string{virtv1alpha1.ConditionMeshEnrolled, virtv1alpha1.ConditionProxyReady} {
			c := meta.FindStatusCondition(v.Status.Conditions, typ)
			if c == nil || c.Status != metav1.ConditionFalse || c.Reason != virtv1alpha1.ReasonNoControlPlane || !strings.Contains(c.Message, cpName) || !strings.Contains(c.Message, "deleted") {
				return fmt.Errorf("%s = %+v", typ, c)
			}
		}
		return nil
	})
	after := settle(t, operator, 5*time.Second, 2*time.Minute)
	per := (after - before) / 100
	t.Logf("%.0f VMI reconciles after the delete (%.2f per VMI), then quiet for 5 s", after-before, per)
	if per > 5 {
		t.Errorf("%.2f reconciles per VMI after the MeshControlPlane was deleted; want at most 5 (no hot loop)", per)
	}
	var v virtv1alpha1.VirtualMachineInstance
	if err := cluster.Client.Get(ctx, client.ObjectKey{Namespace: member, Name: "vm-0"}, &v); err == nil {
		t.Logf("MeshEnrolled: %s", meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionMeshEnrolled).Message)
	}
}
