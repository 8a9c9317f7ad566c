package virt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/enrollment"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

// statusPatches counts the VMI status patches a client sends and can lose
// the next ones (an error, nothing written), like a patch that never lands.
type statusPatches struct {
	client.Client
	sent atomic.Int64
	lose atomic.Int64
}

func (c *statusPatches) Status() client.SubResourceWriter {
	return statusWriter{SubResourceWriter: c.Client.Status(), c: c}
}

type statusWriter struct {
	client.SubResourceWriter
	c *statusPatches
}

func (w statusWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if w.c.lose.Add(-1) >= 0 {
		return errors.New("injected: the status patch was lost")
	}
	w.c.sent.Add(1)
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// TestLostStatusPatchNeverRerunsPod closes the duplicate window: the pod is
// created, the status patch naming it is lost, and the pod is deleted before
// the next reconcile — by the same process (memory knows the pod) or by one
// restarted in between (memory is gone). The pod cannot vanish before a
// status names it (FinalizerLauncherPod): it stays, terminating, until the
// next reconcile has recorded it, then goes; the VMI fails as PodLost and its
// UID-derived pod name is never used for a second run.
func TestLostStatusPatchNeverRerunsPod(t *testing.T) {
	for _, restarted := range []bool{false, true} {
		t.Run(fmt.Sprintf("restarted=%v", restarted), func(t *testing.T) {
			ctx := context.Background()
			ns := newNamespace(t, nil)
			create(t, vb.MakeVMI("once").Namespace(ns).Obj())
			req := reconcile.Request{NamespacedName: client.ObjectKey{Namespace: ns, Name: "once"}}
			newReconciler := func(c client.Client) *VirtualMachineInstanceReconciler {
				// Past the hold-back window: the first reconcile patches.
				later := func() time.Time { return time.Now().Add(coalesceWindow + time.Second) }
				return &VirtualMachineInstanceReconciler{Client: c, Scheme: env.Scheme, APIReader: env.Client, Recorder: events.NewFakeRecorder(100), LauncherImage: testLauncherImage, Now: later}
			}
			c := &statusPatches{Client: env.Client}
			c.lose.Store(1)
			r := newReconciler(c)

			if _, err := r.Reconcile(ctx, req); err == nil || !strings.Contains(err.Error(), "injected") {
				t.Fatalf("first reconcile: %v, want the lost patch's error", err)
			}
			pods := launcherPods(t, ns, "once")
			if len(pods) != 1 {
				t.Fatalf("%d pods after the first reconcile", len(pods))
			}
			if v := getVMI(t, ns, "once"); v.Status.LauncherPod != "" || v.Status.Phase != "" {
				t.Fatalf("status %s/%q landed; the test needs it lost", v.Status.Phase, v.Status.LauncherPod)
			}
			if restarted {
				r = newReconciler(env.Client)
			}
			if err := env.Client.Delete(ctx, &pods[0], client.GracePeriodSeconds(0)); err != nil {
				t.Fatal(err)
			}
			if p := launcherPods(t, ns, "once"); len(p) != 1 || p[0].DeletionTimestamp == nil {
				t.Fatalf("pods after the delete: %d; want the one pod, terminating, held by its finalizer", len(p))
			}

			// The next reconcile records the pod, then releases it.
			if _, err := r.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			if v := getVMI(t, ns, "once"); v.Status.LauncherPod != pods[0].Name {
				t.Fatalf("status.launcherPod %q, want %s recorded before the pod goes", v.Status.LauncherPod, pods[0].Name)
			}
			eventually(t, "pod gone", func() error {
				if n := len(launcherPods(t, ns, "once")); n != 0 {
					return fmt.Errorf("%d pods", n)
				}
				return nil
			})
			// A reconcile restarted now finds no pod and no memory: the
			// status alone must stop a second run.
			if restarted {
				r = newReconciler(env.Client)
			}
			if _, err := r.Reconcile(ctx, req); err != nil {
				t.Fatal(err)
			}
			if n := len(launcherPods(t, ns, "once")); n != 0 {
				t.Fatalf("a second run: %d launcher pods", n)
			}
			v := getVMI(t, ns, "once")
			failure := meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionFailure)
			if v.Status.Phase != virtv1alpha1.Failed || failure == nil || failure.Reason != virtv1alpha1.ReasonPodLost {
				t.Errorf("phase %s, Failure %+v; want Failed/PodLost", v.Status.Phase, failure)
			}
		})
	}
}

// startPatchCountingController is startController with the reconciler's
// client counting status patches.
func startPatchCountingController(t *testing.T) (*countingReconciler, *statusPatches) {
	t.Helper()
	mgr := newTestManager(t)
	c := &statusPatches{Client: mgr.GetClient()}
	r := &VirtualMachineInstanceReconciler{Client: c, Scheme: mgr.GetScheme(), LauncherImage: testLauncherImage, Workers: 4}
	counter := &countingReconciler{inner: r}
	if err := r.setup(mgr, counter); err != nil {
		t.Fatal(err)
	}
	startManager(t, mgr)
	return counter, c
}

// TestPodProgressCoalesced: a pod that runs right after it is created costs
// one status patch, straight from Pending to Running (two writes per VMI:
// the pod create and that patch), with no extra reconcile; a pod that stays
// pending past coalesceWindow gets its Scheduling patch, and then one patch
// for bound and running together.
func TestPodProgressCoalesced(t *testing.T) {
	counter, patches := startPatchCountingController(t)
	ns := newNamespace(t, nil)
	// The controller sees the other tests' VMIs too: count from quiet.
	assertSettles(t, counter)
	base := patches.sent.Load()

	create(t, vb.MakeVMI("quick").Namespace(ns).Obj())
	k := kubelet{t: t, pod: waitOnePod(t, ns, "quick")}
	k.bind("node-1")
	k.setStatus(corev1.PodRunning, running(), true)
	waitCondition(t, ns, "quick", virtv1alpha1.ConditionReady, metav1.ConditionTrue, virtv1alpha1.ReasonPodReady)
	assertSettles(t, counter)
	if n := patches.sent.Load() - base; n != 1 {
		t.Errorf("%d status patches from create to Running, want 1", n)
	}
	if got := phases(getVMI(t, ns, "quick")); got != "[Running]" {
		t.Errorf("phase transitions %s, want [Running]", got)
	}

	base = patches.sent.Load()
	create(t, vb.MakeVMI("slow").Namespace(ns).Obj())
	pod := waitOnePod(t, ns, "slow")
	waitPhase(t, ns, "slow", virtv1alpha1.Scheduling)
	assertSettles(t, counter)
	reconciles := counter.n.Load()
	k = kubelet{t: t, pod: pod}
	k.bind("node-1")
	k.setStatus(corev1.PodRunning, running(), true)
	waitCondition(t, ns, "slow", virtv1alpha1.ConditionReady, metav1.ConditionTrue, virtv1alpha1.ReasonPodReady)
	time.Sleep(coalesceWindow + time.Second)
	if n := patches.sent.Load() - base; n != 2 {
		t.Errorf("%d status patches, want 2 (Scheduling after the window, then Running)", n)
	}
	// One reconcile per pod event (bind, status); the delayed one merged.
	if n := counter.n.Load() - reconciles; n > 2 {
		t.Errorf("%d reconciles from bound to Running, want at most 2", n)
	}
	v := getVMI(t, ns, "slow")
	if got := phases(v); got != "[Scheduling Running]" {
		t.Errorf("phase transitions %s", got)
	}
	if c := meta.FindStatusCondition(v.Status.Conditions, virtv1alpha1.ConditionPodScheduled); c == nil || c.Status != metav1.ConditionTrue {
		t.Errorf("PodScheduled %+v, want True", c)
	}
	assertSettles(t, counter)
}

// phases lists a VMI's phase transitions, e.g. "[Scheduling Running]".
func phases(v *virtv1alpha1.VirtualMachineInstance) string {
	var ps []virtv1alpha1.VirtualMachineInstancePhase
	for _, p := range v.Status.PhaseTransitionTimestamps {
		ps = append(ps, p.Phase)
	}
	return fmt.Sprint(ps)
}

// TestNodeRemovedFailsVMI: the node a Running VMI's pod is bound to is
// deleted; the VMI fails with a reason naming the node at once, without
// waiting for pod garbage collection.
func TestNodeRemovedFailsVMI(t *testing.T) {
	counter := startController(t)
	ns := newNamespace(t, nil)
	create(t, vb.MakeVMI("orphan").Namespace(ns).Obj())
	pod := waitOnePod(t, ns, "orphan")
	node := "node-" + ns
	k := kubelet{t: t, pod: pod}
	k.bind(node)
	k.setStatus(corev1.PodRunning, running(), true)
	waitPhase(t, ns, "orphan", virtv1alpha1.Running)

	if err := env.Client.Delete(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}); err != nil {
		t.Fatal(err)
	}
	waitPhase(t, ns, "orphan", virtv1alpha1.Failed)
	for _, typ := range []string{virtv1alpha1.ConditionFailure, virtv1alpha1.ConditionReady} {
		c := meta.FindStatusCondition(getVMI(t, ns, "orphan").Status.Conditions, typ)
		if c == nil || c.Reason != virtv1alpha1.ReasonNodeLost || !strings.Contains(c.Message, node) || !strings.Contains(c.Message, pod.Name) {
			t.Errorf("%s = %+v, want reason %s naming node %s and pod %s", typ, c, virtv1alpha1.ReasonNodeLost, node, pod.Name)
		}
	}
	assertSettles(t, counter)
	if n := len(launcherPods(t, ns, "orphan")); n != 1 {
		t.Errorf("%d launcher pods, want the one bound to the removed node", n)
	}
}

// countingReader counts the lists a reader serves.
type countingReader struct {
	client.Reader
	lists atomic.Int64
}

func (c *countingReader) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	c.lists.Add(1)
	return c.Reader.List(ctx, list, opts...)
}

// hidingMCPs is a cache that has not seen any MeshControlPlane yet.
type hidingMCPs struct{ client.Reader }

func (h hidingMCPs) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	if _, ok := list.(*meshv1alpha1.MeshControlPlaneList); ok {
		return nil
	}
	return h.Reader.List(ctx, list, opts...)
}

// TestCacheFreshness: one check proves the cache fresh for every VMI written
// before it; a later VMI needs a new check; a cache missing a control plane
// the API server has is never called fresh.
func TestCacheFreshness(t *testing.T) {
	ctx := context.Background()
	cpNS := newNamespace(t, nil)
	mcp := mcpbuilder.Make("fresh", cpNS).Revision("freshness").Obj()
	create(t, mcp)
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), mcp) })
	ns := newNamespace(t, nil)
	first, second := vb.MakeVMI("a").Namespace(ns).Obj(), vb.MakeVMI("b").Namespace(ns).Obj()
	create(t, first)
	create(t, second)

	live := &countingReader{Reader: env.Client}
	m := newMeshInputs(env.Client, live)
	if !m.cacheFresh(ctx, second) {
		t.Fatal("an up-to-date cache is not fresh for the VMI")
	}
	checks := live.lists.Load()
	if checks != 2 {
		t.Errorf("%d live lists for one check, want 2 (control planes, namespace)", checks)
	}
	if !m.cacheFresh(ctx, first) || live.lists.Load() != checks {
		t.Errorf("an older VMI needed another check (%d lists)", live.lists.Load()-checks)
	}
	third := vb.MakeVMI("c").Namespace(ns).Obj()
	create(t, third)
	if !m.cacheFresh(ctx, third) || live.lists.Load() != 2*checks {
		t.Errorf("a newer VMI: %d more lists, want %d", live.lists.Load()-checks, checks)
	}

	stale := newMeshInputs(hidingMCPs{env.Client}, env.Client)
	if stale.cacheFresh(ctx, first) {
		t.Error("a cache without the control plane the API server has is called fresh")
	}
}

func TestComputeStatusRunGone(t *testing.T) {
	now := metav1.NewTime(time.Date(2026, 11, 25, 3, 0, 0, 0, time.UTC))
	running := vb.MakeVMI("vm").Obj()
	running.Status.Phase = virtv1alpha1.Running
	running.Status.LauncherPod = "virt-launcher-vm-abcde"
	running.Status.NodeName = "kwok-node-3"
	member := enrollment.Decision{Reason: virtv1alpha1.ReasonNotMember, Message: "namespace default is not a member of any MeshControlPlane"}

	for _, tc := range []struct {
		name  string
		obs   observed
		phase virtv1alpha1.VirtualMachineInstancePhase
		want  map[string]string // type -> "Status/Reason/message substring"
	}{
		{
			name:  "node removed under a running pod",
			obs:   observed{Pod: makePod().node("kwok-node-3").phase(corev1.PodRunning).computeRunning().cond(corev1.PodReady, corev1.ConditionTrue).obj(), LostNode: "kwok-node-3", Decision: member},
			phase: virtv1alpha1.Failed,
			want: map[string]string{
				virtv1alpha1.ConditionFailure:    "True/NodeLost/node kwok-node-3, where launcher pod virt-launcher-vm-abcde ran, was removed from the cluster while the VMI was Running",
				virtv1alpha1.ConditionReady:      "False/NodeLost/kwok-node-3",
				virtv1alpha1.ConditionProxyReady: "False/NodeLost/kwok-node-3",
			},
		},
		{
			name:  "pod garbage-collected after its node was removed",
			obs:   observed{PodLost: true, LostNode: "kwok-node-3", Decision: member},
			phase: virtv1alpha1.Failed,
			want: map[string]string{
				virtv1alpha1.ConditionFailure: "True/NodeLost/node kwok-node-3, where launcher pod virt-launcher-vm-abcde ran",
			},
		},
		{
			name:  "control plane deleted under a meshed pod",
			obs:   observed{Pod: makePod().node("kwok-node-3").phase(corev1.PodRunning).computeRunning().cond(corev1.PodReady, corev1.ConditionTrue).mesh(true).obj(), ControlPlaneGone: "istio-system/basic", Decision: member},
			phase: virtv1alpha1.Running,
			want: map[string]string{
				virtv1alpha1.ConditionMeshEnrolled: "False/ControlPlaneNotFound/MeshControlPlane istio-system/basic, which was deleted",
				virtv1alpha1.ConditionProxyReady:   "False/ControlPlaneNotFound/MeshControlPlane istio-system/basic was deleted",
				virtv1alpha1.ConditionReady:        "True/PodReady/",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := computeStatus(running, tc.obs, now)
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			for typ, w := range tc.want {
				parts := strings.SplitN(w, "/", 3)
				c := meta.FindStatusCondition(st.Conditions, typ)
				if c == nil || string(c.Status) != parts[0] || c.Reason != parts[1] || !strings.Contains(c.Message, parts[2]) {
					t.Errorf("%s = %+v, want %s", typ, c, w)
				}
			}
		})
	}
}
