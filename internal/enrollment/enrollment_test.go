package enrollment

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
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

func created(m meshv1alpha1.MeshControlPlane, sec int) meshv1alpha1.MeshControlPlane {
	m.CreationTimestamp = metav1.NewTime(time.Unix(int64(sec), 0))
	return m
}

func members(m meshv1alpha1.MeshControlPlane, ns ...string) meshv1alpha1.MeshControlPlane {
	m.Spec.Members.Namespaces = ns
	return m
}

func selecting(m meshv1alpha1.MeshControlPlane, labels map[string]string) meshv1alpha1.MeshControlPlane {
	m.Spec.Members.Selector = &metav1.LabelSelector{MatchLabels: labels}
	return m
}

func deleting(m meshv1alpha1.MeshControlPlane) meshv1alpha1.MeshControlPlane {
	m.DeletionTimestamp = &metav1.Time{Time: time.Unix(100, 0)}
	m.Finalizers = []string{"mesh.virtmesh.io/finalizer"}
	return m
}

func TestDecide(t *testing.T) {
	basic := mcp("istio-system", "basic", "")
	canary := mcp("istio-canary", "canary", "canary")
	other := mcp("mesh2", "other", "")
	basicNN := types.NamespacedName{Namespace: "istio-system", Name: "basic"}
	canaryNN := types.NamespacedName{Namespace: "istio-canary", Name: "canary"}

	// Declared membership (spec.members), the bookinfo race: no labels yet.
	listsDefault := created(members(basic, "default"), 1)
	selectsDefault := created(selecting(basic, map[string]string{"team": "a"}), 1)
	canaryLists := created(members(canary, "default"), 1)
	otherLater := created(members(other, "default"), 2)
	mesh2NN := types.NamespacedName{Namespace: "mesh2", Name: "other"}
	inDefault := created(members(mcp("default", "own", ""), "default"), 1)
	listsKube := created(members(mcp("istio-system", "kube", ""), "kube-system", "kube-public"), 1)

	cases := map[string]struct {
		inject       string
		nsName       string // the VMI's namespace; "default" when empty
		noNamespace  bool   // the namespace is not known (nil)
		labels       map[string]string
		mcps         []meshv1alpha1.MeshControlPlane
		wantEnrolled bool
		wantCP       types.NamespacedName
		wantReason   string
		wantMsg      string
	}{
		"member-of names the control plane": {
			labels: map[string]string{meshv1alpha1.LabelMemberOf: "istio-system.basic", meshv1alpha1.LabelInjection: "enabled"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, other}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
			wantMsg: "member of MeshControlPlane istio-system/basic",
		},
		"member-of a missing control plane": {
			labels: map[string]string{meshv1alpha1.LabelMemberOf: "istio-system.gone"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic}, wantReason: virtv1alpha1.ReasonNoControlPlane, wantMsg: "does not exist",
		},
		"istio-injection=enabled with one default control plane": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"istio-injection=enabled with two default control planes": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, other}, wantReason: virtv1alpha1.ReasonAmbiguous, wantMsg: "istio-system/basic, mesh2/other",
		},
		"istio-injection=enabled without control planes": {
			labels:     map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			wantReason: virtv1alpha1.ReasonNoControlPlane, wantMsg: "no MeshControlPlane without a revision",
		},
		"istio.io/rev selects the revision": {
			labels: map[string]string{meshv1alpha1.LabelRevision: "canary"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: canaryNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"istio.io/rev=default means the default revision": {
			labels: map[string]string{meshv1alpha1.LabelRevision: "default"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"istio-injection wins over istio.io/rev": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled", meshv1alpha1.LabelRevision: "canary"},
			mcps:   []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"opt-out in a member namespace": {
			inject: "false", labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"},
			mcps: []meshv1alpha1.MeshControlPlane{basic}, wantReason: virtv1alpha1.ReasonOptedOut, wantMsg: `"false"`,
		},
		"opt-in outside member namespaces": {
			inject: "true", mcps: []meshv1alpha1.MeshControlPlane{basic, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonOptedIn,
		},
		"opt-in with two default control planes": {
			inject: "true", mcps: []meshv1alpha1.MeshControlPlane{basic, other}, wantReason: virtv1alpha1.ReasonAmbiguous,
		},
		"opt-in into a disabled namespace": {
			inject: "true", labels: map[string]string{meshv1alpha1.LabelInjection: "disabled"},
			mcps: []meshv1alpha1.MeshControlPlane{basic}, wantReason: virtv1alpha1.ReasonInjectionDisabled,
		},
		"not a member": {
			mcps: []meshv1alpha1.MeshControlPlane{basic}, wantReason: virtv1alpha1.ReasonNotMember, wantMsg: "not a member",
		},

		"spec lists the unlabelled namespace": {
			mcps: []meshv1alpha1.MeshControlPlane{listsDefault, other}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
			wantMsg: "member of MeshControlPlane istio-system/basic (listed in its spec.members.namespaces)",
		},
		"spec lists a namespace not in the cache yet": {
			noNamespace: true, mcps: []meshv1alpha1.MeshControlPlane{listsDefault}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"spec selector matches the namespace": {
			labels: map[string]string{"team": "a"}, mcps: []meshv1alpha1.MeshControlPlane{selectsDefault}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
			wantMsg: "selected by its spec.members.selector",
		},
		"spec selector does not match": {
			labels: map[string]string{"team": "b"}, mcps: []meshv1alpha1.MeshControlPlane{selectsDefault}, wantReason: virtv1alpha1.ReasonNotMember,
		},
		"spec lists a revisioned control plane": {
			mcps: []meshv1alpha1.MeshControlPlane{basic, canaryLists}, wantEnrolled: true, wantCP: canaryNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"the control plane's own namespace is never a member": {
			mcps: []meshv1alpha1.MeshControlPlane{inDefault}, wantReason: virtv1alpha1.ReasonNotMember,
		},
		"kube-system is never a member": {
			nsName: "kube-system", mcps: []meshv1alpha1.MeshControlPlane{listsKube}, wantReason: virtv1alpha1.ReasonNotMember,
		},
		"kube-* is never a member": {
			nsName: "kube-public", mcps: []meshv1alpha1.MeshControlPlane{listsKube}, wantReason: virtv1alpha1.ReasonNotMember,
		},
		"two control planes list it: the earliest wins": {
			mcps: []meshv1alpha1.MeshControlPlane{otherLater, listsDefault}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"same creation time: namespace/name order wins": {
			mcps: []meshv1alpha1.MeshControlPlane{created(members(other, "default"), 1), listsDefault}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"a control plane being deleted claims nothing": {
			mcps: []meshv1alpha1.MeshControlPlane{deleting(listsDefault), otherLater}, wantEnrolled: true, wantCP: mesh2NN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"only a control plane being deleted lists it": {
			mcps: []meshv1alpha1.MeshControlPlane{deleting(listsDefault)}, wantReason: virtv1alpha1.ReasonNotMember,
		},
		"opt-out wins over spec membership": {
			inject: "false", mcps: []meshv1alpha1.MeshControlPlane{listsDefault}, wantReason: virtv1alpha1.ReasonOptedOut,
		},
		"istio-injection=disabled wins over spec membership": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "disabled"}, mcps: []meshv1alpha1.MeshControlPlane{listsDefault}, wantReason: virtv1alpha1.ReasonInjectionDisabled,
		},
		"member-of an existing control plane wins over the spec owner": {
			labels: map[string]string{meshv1alpha1.LabelMemberOf: "mesh2.other"}, mcps: []meshv1alpha1.MeshControlPlane{listsDefault, other}, wantEnrolled: true, wantCP: mesh2NN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"member-of a missing control plane gives way to the spec owner": {
			labels: map[string]string{meshv1alpha1.LabelMemberOf: "istio-system.gone"}, mcps: []meshv1alpha1.MeshControlPlane{listsDefault}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"istio-injection=enabled with two defaults: the spec owner": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"}, mcps: []meshv1alpha1.MeshControlPlane{otherLater, listsDefault}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"user istio-injection on a namespace a revisioned control plane lists: the label decides": {
			labels: map[string]string{meshv1alpha1.LabelInjection: "enabled"}, mcps: []meshv1alpha1.MeshControlPlane{basic, canaryLists}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"user istio.io/rev of another revision: the label decides": {
			labels: map[string]string{meshv1alpha1.LabelRevision: "blue"}, mcps: []meshv1alpha1.MeshControlPlane{canaryLists, mcp("istio-blue", "blue", "blue")}, wantEnrolled: true,
			wantCP: types.NamespacedName{Namespace: "istio-blue", Name: "blue"}, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
		"user istio.io/rev under a default-revision owner: the owner": {
			labels: map[string]string{meshv1alpha1.LabelRevision: "canary"}, mcps: []meshv1alpha1.MeshControlPlane{listsDefault, canary}, wantEnrolled: true, wantCP: basicNN, wantReason: virtv1alpha1.ReasonNamespaceMember,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			w := vb.MakeVMI("vm")
			if tc.inject != "" {
				w.Annotation("sidecar.istio.io/inject", tc.inject)
			}
			ns := nsWith(tc.labels)
			if tc.nsName != "" {
				ns.Name = tc.nsName
				w.Namespace(tc.nsName)
			}
			if tc.noNamespace {
				ns = nil
			}
			got := Decide(w.Obj(), ns, tc.mcps)
			if diff := cmp.Diff(tc.wantEnrolled, got.Enrolled); diff != "" {
				t.Errorf("enrolled (-want +got): %s (%s)", diff, got.Message)
			}
			if got.ControlPlane != tc.wantCP || got.Reason != tc.wantReason {
				t.Errorf("got %v %s, want %v %s (%s)", got.ControlPlane, got.Reason, tc.wantCP, tc.wantReason, got.Message)
			}
			if wantUnresolved := tc.wantReason == virtv1alpha1.ReasonNoControlPlane || tc.wantReason == virtv1alpha1.ReasonAmbiguous; got.Unresolved() != wantUnresolved {
				t.Errorf("Unresolved() = %v", got.Unresolved())
			}
			if !strings.Contains(got.Message, tc.wantMsg) {
				t.Errorf("message %q lacks %q", got.Message, tc.wantMsg)
			}
		})
	}
}
