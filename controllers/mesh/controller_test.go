package mesh

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/testenv"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

const timeout = 30 * time.Second

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	testenv.Eventually(t, timeout, 100*time.Millisecond, what, f)
}

func createNamespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	if err := k8s.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
}

func nsLabels(t *testing.T, name string) map[string]string {
	t.Helper()
	ns := &corev1.Namespace{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, ns); err != nil {
		t.Fatal(err)
	}
	return ns.Labels
}

func getMCP(t *testing.T, mcp *meshv1alpha1.MeshControlPlane) *meshv1alpha1.MeshControlPlane {
	t.Helper()
	got := &meshv1alpha1.MeshControlPlane{}
	if err := k8s.Get(context.Background(), client.ObjectKeyFromObject(mcp), got); err != nil {
		t.Fatal(err)
	}
	return got
}

func condition(mcp *meshv1alpha1.MeshControlPlane, typ string) metav1.Condition {
	if c := meta.FindStatusCondition(mcp.Status.Conditions, typ); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// waitCondition waits until the condition has the status and reason.
func waitCondition(t *testing.T, mcp *meshv1alpha1.MeshControlPlane, typ string, status metav1.ConditionStatus, reason string) *meshv1alpha1.MeshControlPlane {
	t.Helper()
	var got *meshv1alpha1.MeshControlPlane
	eventually(t, fmt.Sprintf("%s=%s/%s", typ, status, reason), func() error {
		got = getMCP(t, mcp)
		c := condition(got, typ)
		if c.Status != status || c.Reason != reason || c.ObservedGeneration != got.Generation {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
	return got
}

func markAvailable(t *testing.T, ns, name string) {
	t.Helper()
	eventually(t, "mark "+name+" available", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
			return err
		}
		n := *d.Spec.Replicas
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n, UpdatedReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable"}}}
		return k8s.Status().Update(context.Background(), d)
	})
}

func TestCreateOwnershipDriftReadyAndPrune(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-create", nil)
	mcp := mcpbuilder.Make("basic", "cp-create").MTLS(meshv1alpha1.MTLSStrict).Ingress().Addons("prometheus").Obj()
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)

	// Every rendered object exists with the right owner.
	v, _ := cp.Resolve(got, testImages)
	objs, err := cp.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range objs {
		o := want.DeepCopyObject().(client.Object)
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(want), o); err != nil {
			t.Errorf("%T %s: %v", want, want.GetName(), err)
			continue
		}
		if want.GetNamespace() != "" {
			if ref := metav1.GetControllerOf(o); ref == nil || ref.UID != got.UID {
				t.Errorf("%T %s: controller ownerReference = %v, want the MeshControlPlane", o, o.GetName(), ref)
			}
		} else if l := o.GetLabels(); l[cp.LabelOwnerNamespace] != "cp-create" || l[cp.LabelOwnerName] != "basic" {
			t.Errorf("%T %s: owner labels = %v", o, o.GetName(), l)
		}
	}

	// The snapshot is published.
	if got.Status.InjectionSnapshot == "" {
		t.Fatal("status.injectionSnapshot is empty")
	}
	snap := &corev1.ConfigMap{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "cp-create", Name: got.Status.InjectionSnapshot}, snap); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	if snap.Immutable == nil || !*snap.Immutable || metav1.GetControllerOf(snap) == nil || snap.Name != cp.InjectionSettings(v).SnapshotName() {
		t.Errorf("snapshot %s: immutable=%v owner=%v", snap.Name, snap.Immutable, metav1.GetControllerOf(snap))
	}

	// Nothing is available yet.
	if c := condition(got, meshv1alpha1.ConditionReady); c.Status != metav1.ConditionFalse {
		t.Errorf("Ready = %+v before any Deployment is available", c)
	}

	// Deleted owned Deployment comes back.
	istiod := &appsv1.Deployment{}
	key := client.ObjectKey{Namespace: "cp-create", Name: "istiod"}
	if err := k8s.Get(ctx, key, istiod); err != nil {
		t.Fatal(err)
	}
	oldUID := istiod.UID
	if err := k8s.Delete(ctx, istiod); err != nil {
		t.Fatal(err)
	}
	eventually(t, "istiod recreated", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		if d.UID == oldUID {
			return fmt.Errorf("still the old Deployment")
		}
		return nil
	})

	// Drift: an edited image and mesh config are put back.
	eventually(t, "edit istiod image", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = "evil/pilot:latest"
		return k8s.Update(ctx, d)
	})
	eventually(t, "edit mesh config", func() error {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "cp-create", Name: "istio"}, cm); err != nil {
			return err
		}
		cm.Data[cp.MeshConfigKey] = "tampered: true\n"
		return k8s.Update(ctx, cm)
	})
	wantMesh, _ := cp.MeshConfig(v)
	eventually(t, "drift corrected", func() error {
		d := &appsv1.Deployment{}
		if err := k8s.Get(ctx, key, d); err != nil {
			return err
		}
		if img := d.Spec.Template.Spec.Containers[0].Image; img != v.IstiodImage {
			return fmt.Errorf("image %s", img)
		}
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "cp-create", Name: "istio"}, cm); err != nil {
			return err
		}
		if cm.Data[cp.MeshConfigKey] != wantMesh {
			return fmt.Errorf("mesh config %q", cm.Data[cp.MeshConfigKey])
		}
		return nil
	})

	// Readiness: one available, then all; and istiod's CA (written here as
	// istiod would).
	createCASecret(t, "cp-create")
	markAvailable(t, "cp-create", "istiod")
	eventually(t, "1/3 ready", func() error {
		got = getMCP(t, mcp)
		c := condition(got, meshv1alpha1.ConditionReady)
		if got.Status.ComponentsReady != "1/3" || c.Status != metav1.ConditionFalse ||
			!strings.Contains(c.Message, "ingressgateway") || !strings.Contains(c.Message, "prometheus") || strings.Contains(c.Message, "istiod") {
			return fmt.Errorf("componentsReady=%s Ready=%+v", got.Status.ComponentsReady, c)
		}
		return nil
	})
	markAvailable(t, "cp-create", "istio-ingressgateway")
	markAvailable(t, "cp-create", "prometheus")
	got = waitCondition(t, mcp, meshv1alpha1.ConditionReady, metav1.ConditionTrue, meshv1alpha1.ReasonComponentsReady)
	if diff := cmp.Diff(meshv1alpha1.ComponentReadiness{Ready: []string{"istiod", "ingressgateway", "prometheus"}}, got.Status.Readiness.Components); diff != "" || got.Status.ComponentsReady != "3/3" {
		t.Errorf("readiness (-want +got):\n%s componentsReady=%s", diff, got.Status.ComponentsReady)
	}
	// kubectl describe shows the transitions as Events: Normal when reached.
	eventually(t, "Normal events for Reconciled and Ready", func() error {
		list := &eventsv1.EventList{}
		if err := k8s.List(ctx, list, client.InNamespace("cp-create")); err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, e := range list.Items {
			if e.Regarding.Kind == "MeshControlPlane" && e.Regarding.Name == mcp.Name && e.Type == corev1.EventTypeNormal {
				seen[e.Action] = true
			}
		}
		if !seen[meshv1alpha1.ConditionReconciled] || !seen[meshv1alpha1.ConditionReady] {
			return fmt.Errorf("normal events by action: %v", seen)
		}
		return nil
	})
	if got.Status.Version != "1.30.0" || got.Status.ObservedGeneration != got.Generation {
		t.Errorf("version=%s observedGeneration=%d generation=%d", got.Status.Version, got.Status.ObservedGeneration, got.Generation)
	}

	// Turning the gateway and Prometheus off prunes them, cluster-scoped too.
	got.Spec.Gateways.Ingress.Enabled = false
	got.Spec.Addons.Prometheus.Enabled = false
	if err := k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, "pruned", func() error {
		for _, o := range []client.Object{
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "cp-create", Name: "istio-ingressgateway"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "cp-create", Name: "prometheus"}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "prometheus-cp-create"}},
		} {
			if err := k8s.Get(ctx, client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
				return fmt.Errorf("%T %s still there (err %v)", o, o.GetName(), err)
			}
		}
		return nil
	})
	got = waitCondition(t, mcp, meshv1alpha1.ConditionReady, metav1.ConditionTrue, meshv1alpha1.ReasonComponentsReady)
	if got.Status.ComponentsReady != "1/1" {
		t.Errorf("componentsReady = %s after pruning, want 1/1", got.Status.ComponentsReady)
	}
	assertSettles(t)
}

func TestMembers(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-members", nil)
	createNamespace(t, "app-a", map[string]string{"team": "a"})
	createNamespace(t, "app-b", map[string]string{"mesh": "yes"})
	createNamespace(t, "app-user", map[string]string{meshv1alpha1.LabelInjection: "enabled"})
	createNamespace(t, "app-disabled", map[string]string{meshv1alpha1.LabelInjection: "disabled"})
	createNamespace(t, "kube-meshy", map[string]string{"mesh": "yes"})
	mcp := mcpbuilder.Make("mesh", "cp-members").Members("app-a", "app-user", "app-disabled", "app-later").
		MemberSelector(map[string]string{"mesh": "yes"}).Obj()
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionFalse, meshv1alpha1.ReasonMemberConflict)
	want := meshv1alpha1.MembersStatus{Configured: []string{"app-a", "app-b", "app-user"}, Pending: []string{"app-later"}, Conflicted: []string{"app-disabled"}}
	if diff := cmp.Diff(want, got.Status.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
	if c := condition(got, meshv1alpha1.ConditionReconciled); !strings.Contains(c.Message, "app-disabled") {
		t.Errorf("conflict message %q does not name app-disabled", c.Message)
	}
	key := "cp-members.mesh"
	for ns, wantLabels := range map[string]map[string]string{
		"app-a":        {"team": "a", meshv1alpha1.LabelInjection: "enabled", meshv1alpha1.LabelMemberOf: key},
		"app-b":        {"mesh": "yes", meshv1alpha1.LabelInjection: "enabled", meshv1alpha1.LabelMemberOf: key},
		"app-user":     {meshv1alpha1.LabelInjection: "enabled"},
		"app-disabled": {meshv1alpha1.LabelInjection: "disabled"},
		"kube-meshy":   {"mesh": "yes"},
	} {
		got := nsLabels(t, ns)
		delete(got, "kubernetes.io/metadata.name")
		if diff := cmp.Diff(wantLabels, got); diff != "" {
			t.Errorf("%s labels (-want +got):\n%s", ns, diff)
		}
	}

	// A listed namespace created later becomes a member.
	createNamespace(t, "app-later", nil)
	eventually(t, "app-later labelled", func() error {
		if l := nsLabels(t, "app-later"); l[meshv1alpha1.LabelMemberOf] != key {
			return fmt.Errorf("labels %v", l)
		}
		return nil
	})
	// Leaving the selector removes what the operator added, and nothing else.
	eventually(t, "unlabel app-b", func() error {
		ns := &corev1.Namespace{}
		if err := k8s.Get(ctx, client.ObjectKey{Name: "app-b"}, ns); err != nil {
			return err
		}
		delete(ns.Labels, "mesh")
		ns.Labels["keep"] = "me"
		return k8s.Update(ctx, ns)
	})
	// Leaving the list too.
	eventually(t, "drop app-a", func() error {
		m := getMCP(t, mcp)
		m.Spec.Members.Namespaces = []string{"app-user", "app-later"}
		return k8s.Update(ctx, m)
	})
	eventually(t, "members removed", func() error {
		for ns, want := range map[string]map[string]string{"app-a": {"team": "a"}, "app-b": {"keep": "me"}} {
			got := nsLabels(t, ns)
			delete(got, "kubernetes.io/metadata.name")
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("%s labels (-want +got):\n%s", ns, diff)
			}
		}
		return nil
	})
	got = waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)
	if diff := cmp.Diff(meshv1alpha1.MembersStatus{Configured: []string{"app-later", "app-user"}}, got.Status.Members); diff != "" {
		t.Errorf("members (-want +got):\n%s", diff)
	}
}

func TestMemberConflictAndDeletion(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-first", nil)
	createNamespace(t, "cp-second", nil)
	createNamespace(t, "shared", map[string]string{"owner": "user"})
	createNamespace(t, "only-second", nil)
	createNamespace(t, "user-rev", map[string]string{meshv1alpha1.LabelRevision: "blue"})
	first := mcpbuilder.Make("first", "cp-first").Revision("blue").Members("shared", "user-rev").Obj()
	if err := k8s.Create(ctx, first); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, first, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)
	time.Sleep(1100 * time.Millisecond) // creationTimestamp has one-second resolution
	second := mcpbuilder.Make("second", "cp-second").Members("shared", "only-second").Obj()
	if err := k8s.Create(ctx, second); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, second, meshv1alpha1.ConditionReconciled, metav1.ConditionFalse, meshv1alpha1.ReasonMemberConflict)
	if diff := cmp.Diff(meshv1alpha1.MembersStatus{Configured: []string{"only-second"}, Conflicted: []string{"shared"}}, got.Status.Members); diff != "" {
		t.Errorf("second members (-want +got):\n%s", diff)
	}
	if c := condition(got, meshv1alpha1.ConditionReconciled); !strings.Contains(c.Message, "cp-first/first") {
		t.Errorf("conflict message %q does not name the owner", c.Message)
	}
	if l := nsLabels(t, "shared"); l[meshv1alpha1.LabelMemberOf] != "cp-first.first" || l[meshv1alpha1.LabelRevision] != "blue" || l[meshv1alpha1.LabelInjection] != "" {
		t.Errorf("shared was stolen: %v", l)
	}

	// Deleting the first removes its cluster-scoped objects and labels — and
	// the user's own label — then the second takes the namespace over.
	crs := &rbacv1.ClusterRoleList{}
	if err := k8s.List(ctx, crs, client.MatchingLabels{cp.LabelOwnerNamespace: "cp-first", cp.LabelOwnerName: "first"}); err != nil || len(crs.Items) == 0 {
		t.Fatalf("first has no ClusterRoles before deletion: %v", err)
	}
	if err := k8s.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, "first gone", func() error {
		err := k8s.Get(ctx, client.ObjectKeyFromObject(first), &meshv1alpha1.MeshControlPlane{})
		if !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there: %v", err)
		}
		return nil
	})
	for _, list := range []client.ObjectList{&rbacv1.ClusterRoleList{}, &rbacv1.ClusterRoleBindingList{}} {
		if err := k8s.List(ctx, list, client.MatchingLabels{cp.LabelOwnerNamespace: "cp-first", cp.LabelOwnerName: "first"}); err != nil {
			t.Fatal(err)
		}
		if n := meta.LenList(list); n != 0 {
			t.Errorf("%T: %d left after deletion", list, n)
		}
	}
	if l := nsLabels(t, "user-rev"); l[meshv1alpha1.LabelRevision] != "blue" || l[meshv1alpha1.LabelMemberOf] != "" {
		t.Errorf("user-rev: the user's own label must stay untouched: %v", l)
	}
	eventually(t, "second takes shared", func() error {
		l := nsLabels(t, "shared")
		if l[meshv1alpha1.LabelMemberOf] != "cp-second.second" || l[meshv1alpha1.LabelInjection] != "enabled" || l[meshv1alpha1.LabelRevision] != "" || l["owner"] != "user" {
			return fmt.Errorf("labels %v", l)
		}
		return nil
	})
	waitCondition(t, second, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)

	// Deleting the second leaves the namespaces as the user made them.
	if err := k8s.Delete(ctx, second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "labels removed", func() error {
		for ns, want := range map[string]map[string]string{"shared": {"owner": "user"}, "only-second": {}} {
			got := nsLabels(t, ns)
			delete(got, "kubernetes.io/metadata.name")
			if len(got) == 0 {
				got = map[string]string{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("%s (-want +got):\n%s", ns, diff)
			}
		}
		return nil
	})
}

func TestAddonWithoutImage(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-addon", nil)
	mcp := mcpbuilder.Make("basic", "cp-addon").Addons("grafana").Obj() // testImages has no Grafana
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionFalse, meshv1alpha1.ReasonInvalidSpec)
	if c := condition(got, meshv1alpha1.ConditionReconciled); !strings.Contains(c.Message, "grafana") || !strings.Contains(c.Message, "RELATED_IMAGE_GRAFANA") {
		t.Errorf("message %q", c.Message)
	}
	// The rest is still applied.
	eventually(t, "istiod exists", func() error {
		return k8s.Get(ctx, client.ObjectKey{Namespace: "cp-addon", Name: "istiod"}, &appsv1.Deployment{})
	})
	if got.Status.ComponentsReady != "0/1" {
		t.Errorf("componentsReady = %s", got.Status.ComponentsReady)
	}
}

// reconcileTotal reads controller_runtime_reconcile_total for this controller.
func reconcileTotal(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == ControllerName {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// assertSettles fails unless the reconcile count stops moving: no hot loop.
func assertSettles(t *testing.T) {
	t.Helper()
	const window = 3 * time.Second
	deadline := time.Now().Add(timeout)
	prev := reconcileTotal(t)
	for time.Now().Before(deadline) {
		time.Sleep(window)
		cur := reconcileTotal(t)
		if cur == prev {
			t.Logf("reconcile count settled at %.0f", cur)
			return
		}
		prev = cur
	}
	t.Fatalf("reconcile count still moving after %s (now %.0f): hot loop", timeout, prev)
}

func TestZZReconcileSettles(t *testing.T) {
	assertSettles(t)
}
