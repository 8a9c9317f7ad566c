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

// TestPeerAuthenticationWhenCRDServed: the mesh-wide mTLS policy is applied
// once Istio's PeerAuthentication CRD is served, and skipped before.
func TestPeerAuthenticationWhenCRDServed(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "cp-mtls", nil)
	mcp := mcpbuilder.Make("basic", "cp-mtls").MTLS(meshv1alpha1.MTLSPermissive).Obj()
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	got := waitCondition(t, mcp, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled)

	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "peerauthentications.security.istio.io"},
		"spec": map[string]any{
			"group": "security.istio.io", "scope": "Namespaced",
			"names": map[string]any{"kind": "PeerAuthentication", "listKind": "PeerAuthenticationList", "plural": "peerauthentications", "singular": "peerauthentication"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}},
		},
	}}
	if err := k8s.Create(ctx, crd); err != nil {
		t.Fatal(err)
	}
	eventually(t, "CRD established", func() error {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion("security.istio.io/v1")
		l.SetKind("PeerAuthenticationList")
		return k8s.List(ctx, l)
	})
	got.Spec.Security.MTLS = meshv1alpha1.MTLSStrict
	if err := k8s.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	eventually(t, "PeerAuthentication STRICT", func() error {
		pa := &unstructured.Unstructured{}
		pa.SetAPIVersion("security.istio.io/v1")
		pa.SetKind("PeerAuthentication")
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "cp-mtls", Name: "default"}, pa); err != nil {
			return err
		}
		mode, _, _ := unstructured.NestedString(pa.Object, "spec", "mtls", "mode")
		if mode != "STRICT" || metav1.GetControllerOf(pa) == nil {
			return fmt.Errorf("mode %q owner %v", mode, metav1.GetControllerOf(pa))
		}
		return nil
	})
}
