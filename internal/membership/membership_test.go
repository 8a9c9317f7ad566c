package membership

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

func at(m *meshv1alpha1.MeshControlPlane, sec int) *meshv1alpha1.MeshControlPlane {
	m.CreationTimestamp = metav1.NewTime(time.Unix(int64(sec), 0))
	return m
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func TestClaims(t *testing.T) {
	listed := mcpbuilder.Make("a", "cp").Members("x", "cp", "kube-public").Obj()
	sel := mcpbuilder.Make("s", "cp").MemberSelector(map[string]string{"mesh": "yes"}).Obj()
	empty := mcpbuilder.Make("e", "cp").Obj()
	empty.Spec.Members.Selector = &metav1.LabelSelector{}
	bad := mcpbuilder.Make("b", "cp").Obj()
	bad.Spec.Members.Selector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "k", Operator: "Bogus"}}}

	cases := map[string]struct {
		mcp    *meshv1alpha1.MeshControlPlane
		ns     string
		labels map[string]string
		want   Claim
	}{
		"listed":                              {mcp: listed, ns: "x", want: Listed},
		"not listed":                          {mcp: listed, ns: "y", want: NotClaimed},
		"own namespace is never a member":     {mcp: listed, ns: "cp", want: NotClaimed},
		"kube-* is never a member":            {mcp: listed, ns: "kube-public", want: NotClaimed},
		"selected":                            {mcp: sel, ns: "y", labels: map[string]string{"mesh": "yes"}, want: Selected},
		"selector does not match":             {mcp: sel, ns: "y", labels: map[string]string{"mesh": "no"}, want: NotClaimed},
		"selector never selects kube-system":  {mcp: sel, ns: "kube-system", labels: map[string]string{"mesh": "yes"}, want: NotClaimed},
		"selector never selects openshift-*":  {mcp: sel, ns: "openshift-x", labels: map[string]string{"mesh": "yes"}, want: NotClaimed},
		"empty selector selects nothing":      {mcp: empty, ns: "y", labels: map[string]string{"mesh": "yes"}, want: NotClaimed},
		"invalid selector selects nothing":    {mcp: bad, ns: "y", labels: map[string]string{"k": "v"}, want: NotClaimed},
		"no labels cannot match the selector": {mcp: sel, ns: "y", want: NotClaimed},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := Claims(tc.mcp, tc.ns, tc.labels); got != tc.want {
				t.Errorf("Claims = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestClaimsAmong(t *testing.T) {
	m := mcpbuilder.Make("a", "cp").Members("x", "missing", "gone", "cp", "kube-x").MemberSelector(map[string]string{"m": "1"}).Obj()
	terminating := namespace("gone", nil)
	terminating.DeletionTimestamp = &metav1.Time{Time: time.Unix(5, 0)}
	existing, missing := ClaimsAmong(m, []corev1.Namespace{
		*namespace("x", nil), *namespace("y", map[string]string{"m": "1"}), *namespace("z", nil), *terminating,
		*namespace("cp", map[string]string{"m": "1"}),
	})
	if diff := cmp.Diff(map[string]bool{"x": true, "y": true}, existing); diff != "" {
		t.Errorf("existing (-want +got): %s", diff)
	}
	if diff := cmp.Diff([]string{"missing"}, missing); diff != "" {
		t.Errorf("missing (-want +got): %s", diff)
	}
}

func TestOwner(t *testing.T) {
	first := at(mcpbuilder.Make("first", "cp1").Members("x").Obj(), 1)
	second := at(mcpbuilder.Make("second", "cp2").Members("x").MemberSelector(map[string]string{"m": "1"}).Obj(), 2)
	sameTimeB := at(mcpbuilder.Make("b", "cp3").Members("x").Obj(), 3)
	sameTimeA := at(mcpbuilder.Make("a", "cp3").Members("x").Obj(), 3)
	deletingFirst := first.DeepCopy()
	deletingFirst.DeletionTimestamp = &metav1.Time{Time: time.Unix(9, 0)}
	terminatingNS := namespace("x", nil)
	terminatingNS.DeletionTimestamp = &metav1.Time{Time: time.Unix(9, 0)}

	cases := map[string]struct {
		ns      string
		obj     *corev1.Namespace
		mcps    []*meshv1alpha1.MeshControlPlane
		want    string
		wantHow Claim
	}{
		"listed, namespace not known yet":              {ns: "x", mcps: []*meshv1alpha1.MeshControlPlane{second}, want: "cp2.second", wantHow: Listed},
		"selected":                                     {ns: "y", obj: namespace("y", map[string]string{"m": "1"}), mcps: []*meshv1alpha1.MeshControlPlane{first, second}, want: "cp2.second", wantHow: Selected},
		"unclaimed":                                    {ns: "z", obj: namespace("z", nil), mcps: []*meshv1alpha1.MeshControlPlane{first, second}},
		"conflict: the earliest wins":                  {ns: "x", obj: namespace("x", nil), mcps: []*meshv1alpha1.MeshControlPlane{second, first}, want: "cp1.first", wantHow: Listed},
		"conflict: same time, namespace/name order":    {ns: "x", mcps: []*meshv1alpha1.MeshControlPlane{sameTimeB, sameTimeA}, want: "cp3.a", wantHow: Listed},
		"a control plane being deleted claims nothing": {ns: "x", mcps: []*meshv1alpha1.MeshControlPlane{deletingFirst, second}, want: "cp2.second", wantHow: Listed},
		"only a deleted control plane":                 {ns: "x", mcps: []*meshv1alpha1.MeshControlPlane{deletingFirst}},
		"terminating namespace has no owner":           {ns: "x", obj: terminatingNS, mcps: []*meshv1alpha1.MeshControlPlane{first}},
		"the control plane's own namespace":            {ns: "cp1", mcps: []*meshv1alpha1.MeshControlPlane{at(mcpbuilder.Make("o", "cp1").Members("cp1").Obj(), 1)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var mcps []meshv1alpha1.MeshControlPlane
			for _, m := range tc.mcps {
				mcps = append(mcps, *m)
			}
			owner, how := Owner(tc.ns, tc.obj, mcps)
			got := ""
			if owner != nil {
				got = Key(owner)
			}
			if got != tc.want || how != tc.wantHow {
				t.Errorf("Owner = %q/%v, want %q/%v", got, how, tc.want, tc.wantHow)
			}
		})
	}
}

func TestKeyIsAValidLabelValue(t *testing.T) {
	long := &meshv1alpha1.MeshControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: strings.Repeat("n", 63), Name: strings.Repeat("m", 63)}}
	other := long.DeepCopy()
	other.Name = strings.Repeat("m", 62) + "x"
	for _, mcp := range []*meshv1alpha1.MeshControlPlane{long, other, {ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "basic"}}} {
		if errs := validation.IsValidLabelValue(Key(mcp)); len(errs) > 0 {
			t.Errorf("Key(%s/%s) = %q: %v", mcp.Namespace, mcp.Name, Key(mcp), errs)
		}
	}
	if Key(long) == Key(other) {
		t.Errorf("two control planes share the key %q", Key(long))
	}
	if got := Key(&meshv1alpha1.MeshControlPlane{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "basic"}}); got != "istio-system.basic" {
		t.Errorf("short key = %q, want istio-system.basic", got)
	}
}
