package mesh

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

// TestSnapshotFollowsSettings: a settings change publishes a new snapshot
// and keeps the old one, which running launcher pods were rendered from.
func TestSnapshotFollowsSettings(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-snap", nil)
	mcp := mcpbuilder.Make("basic", "cp-snap").Obj()
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)
	first := got.Status.InjectionSnapshot
	got.Spec.Proxy.HoldApplicationUntilProxyStarts = true
	if err := k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	var second string
	eventually(t, "new snapshot", func() error {
		second = getMCP(t, mcp).Status.InjectionSnapshot
		if second == first {
			return fmt.Errorf("still %s", first)
		}
		return nil
	})
	for _, name := range []string{first, second} {
		cm := &corev1.ConfigMap{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "cp-snap", Name: name}, cm); err != nil {
			t.Fatalf("snapshot %s: %v", name, err)
		}
		s, err := injection.FromSnapshot(cm)
		if err != nil {
			t.Fatal(err)
		}
		if want := name == second; s.HoldApplicationUntilProxyStarts != want || s.DiscoveryAddress != "istiod.cp-snap.svc:15012" {
			t.Errorf("snapshot %s: %+v", name, s)
		}
	}
}

// TestPeerAuthenticationFollowsMTLS: with Istio's CRDs installed (as VirtMesh
// installs them), the mesh-wide policy follows security.mtls. What happens
// without the CRD is proven in test/istio, which owns its cluster.
func TestPeerAuthenticationFollowsMTLS(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-mtls", nil)
	mcp := mcpbuilder.Make("basic", "cp-mtls").MTLS(meshv1alpha1.MTLSStrict).Obj()
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)
	waitPeerAuthentication(t, "cp-mtls", "STRICT")
	got.Spec.Security.MTLS = meshv1alpha1.MTLSPermissive
	if err := k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	waitPeerAuthentication(t, "cp-mtls", "PERMISSIVE")
}

func waitPeerAuthentication(t *testing.T, ns, mode string) {
	t.Helper()
	eventually(t, "PeerAuthentication "+mode, func() error {
		pa := &unstructured.Unstructured{}
		pa.SetAPIVersion("security.istio.io/v1")
		pa.SetKind("PeerAuthentication")
		if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: "default"}, pa); err != nil {
			return err
		}
		got, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode")
		if got != mode || metav1.GetControllerOf(pa) == nil {
			return fmt.Errorf("mode %q owner %v", got, metav1.GetControllerOf(pa))
		}
		return nil
	})
}
