package enrollment

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

func mcp(ns, name, rev string) meshv1alpha1.MeshControlPlane {
	m := meshv1alpha1.MeshControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	m.Spec.Revision = rev
	return m
}

func nsWith(labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: labels}}
}

func TestDecide(t *testing.T) {
	basic := mcp("istio-system", "basic", "")
	canary := mcp("istio-canary", "canary", "canary")
	other := mcp("mesh2", "other", "")
	basicNN := types.NamespacedName{Namespace: "istio-system", Name: "basic"}
	canaryNN := types.NamespacedName{Namespace: "istio-canary", Name: "canary"}

	cases := map[string]struct {
		inject       string
		labels       map[string]string
		mcps         []meshv1alpha1.MeshControlPlane
		wantEnrolled bool
		wantCP       types.NamespacedName
		wantReason   string
		wantMsg      string
	}{
		"member-of names the control plane": {
			labels: map[string]string{meshv1alpha1.LabelMemberOf: "istio-system.basic", meshv1alpha1.LabelInjection: "enabled"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, other}, wantEnrolled: true, wantCP: basicNN, wantReason: ReasonNamespaceMember,
			wantMsg: "member of MeshControlPlane istio-system/basic",
		},
		"member-of a missing control plane": {
			labels: map[string]string{meshv1alpha1.LabelMemberOf: "istio-system.gone"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic}, wantReason: ReasonNoControlPlane, wantMsg: "does not exist",
		},
		"istio-injection=enabled with one default control plane": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: ReasonNamespaceMember,
		},
		"istio-injection=enabled with two default control planes": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, other}, wantReason: ReasonAmbiguous, wantMsg: "istio-system/basic, mesh2/other",
		},
		"istio-injection=enabled without control planes": {
			labels:     map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			wantReason: ReasonNoControlPlane, wantMsg: "no MeshControlPlane without a revision",
		},
		"istio.io/rev selects the revision": {
			labels: map[string]string{meshv1alpha1.LabelRevision: "canary"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: canaryNN, wantReason: ReasonNamespaceMember,
		},
		"istio.io/rev=default means the default revision": {
			labels: map[string]string{meshv1alpha1.LabelRevision: "default"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: ReasonNamespaceMember,
		},
		"istio-injection wins over istio.io/rev": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled", meshv1alpha1.LabelRevision: "canary"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: ReasonNamespaceMember,
		},
		"opt-out in a member namespace": {
			inject: "false", labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			mcps: []meshv1alpha1.MeshControlPlane{basic}, wantReason: ReasonOptedOut, wantMsg: `"false"`,
		},
		"opt-in outside member namespaces": {
			inject: "true", mcps: []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: ReasonOptedIn,
		},
		"opt-in with two default control planes": {
			inject: "true", mcps: []meshv1alpha1.MeshControlPlane{basic, other}, wantReason: ReasonAmbiguous,
		},
		"opt-in into a disabled namespace": {
			inject: "true", labels: map[string]string{meshv1alpha1.LabelInjection: "disabled"},
			mcps: []meshv1alpha1.MeshControlPlane{basic}, wantReason: ReasonInjectionDisabled,
		},
		"not a member": {
			mcps: []meshv1alpha1.MeshControlPlane{basic}, wantReason: ReasonNotMember, wantMsg: "not a member",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := vb.MakeVMI("vm")
			if tc.inject != "" {
				w.Annotation("sidecar.istio.io/inject", tc.inject)
			}
			got := Decide(w.Obj(), nsWith(tc.labels), tc.mcps)
			if diff := cmp.Diff(tc.wantEnrolled, got.Enrolled); diff != "" {
				t.Errorf("enrolled (-want +got): %s (%s)", diff, got.Message)
			}
			if got.ControlPlane != tc.wantCP || got.Reason != tc.wantReason {
				t.Errorf("got %v %s, want %v %s (%s)", got.ControlPlane, got.Reason, tc.wantCP, tc.wantReason, got.Message)
			}
			if wantUnresolved := tc.wantReason == ReasonNoControlPlane || tc.wantReason == ReasonAmbiguous; got.Unresolved() != wantUnresolved {
				t.Errorf("Unresolved() = %v", got.Unresolved())
			}
			if !strings.Contains(got.Message, tc.wantMsg) {
				t.Errorf("message %q lacks %q", got.Message, tc.wantMsg)
			}
		})
	}
}
