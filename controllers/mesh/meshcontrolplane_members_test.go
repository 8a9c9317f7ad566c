package mesh

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

func ns(name string, labels map[string]string) corev1.Namespace {
	return corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func created(m *meshv1alpha1.MeshControlPlane, sec int) *meshv1alpha1.MeshControlPlane {
	m.CreationTimestamp = metav1.NewTime(time.Unix(int64(sec), 0))
	return m
}

func str(s string) *string { return &s }

func TestPlanMembers(t *testing.T) {
	a := created(mcpbuilder.Make("a", "cp").Members("x", "y", "missing", "cp").Obj(), 1)
	bLater := created(mcpbuilder.Make("b", "cp2").Members("x").Obj(), 2)
	rev := created(mcpbuilder.Make("r", "cp").Revision("blue").MemberSelector(map[string]string{"m": "1"}).Obj(), 1)
	deleting := a.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Unix(5, 0)}

	cases := map[string]struct {
		self        *meshv1alpha1.MeshControlPlane
		others      []*meshv1alpha1.MeshControlPlane
		namespaces  []corev1.Namespace
		wantStatus  meshv1alpha1.MembersStatus
		wantChanges map[string]labelChange
	}{
		"label new members, pending missing, never the control-plane namespace": {
			self:       a,
			namespaces: []corev1.Namespace{ns("x", nil), ns("y", map[string]string{"k": "v"}), ns("cp", nil)},
			wantStatus: meshv1alpha1.MembersStatus{Configured: []string{"x", "y"}, Pending: []string{"missing"}},
			wantChanges: map[string]labelChange{
				"x": {meshv1alpha1.LabelMemberOf: str("cp.a"), meshv1alpha1.LabelInjection: str("enabled")},
				"y": {meshv1alpha1.LabelMemberOf: str("cp.a"), meshv1alpha1.LabelInjection: str("enabled")},
			},
		},
		"already labelled: no change": {
			self:        a,
			namespaces:  []corev1.Namespace{ns("x", map[string]string{meshv1alpha1.LabelMemberOf: "cp.a", meshv1alpha1.LabelInjection: "enabled"})},
			wantStatus:  meshv1alpha1.MembersStatus{Configured: []string{"x"}, Pending: []string{"missing", "y"}},
			wantChanges: map[string]labelChange{},
		},
		"the later control plane reports a conflict and leaves it": {
			self:        bLater,
			others:      []*meshv1alpha1.MeshControlPlane{a},
			namespaces:  []corev1.Namespace{ns("x", map[string]string{meshv1alpha1.LabelMemberOf: "cp.a", meshv1alpha1.LabelInjection: "enabled"})},
			wantStatus:  meshv1alpha1.MembersStatus{Conflicted: []string{"x"}},
			wantChanges: map[string]labelChange{},
		},
		"the earlier waits until the later releases": {
			self:        a,
			others:      []*meshv1alpha1.MeshControlPlane{bLater},
			namespaces:  []corev1.Namespace{ns("x", map[string]string{meshv1alpha1.LabelMemberOf: "cp2.b", meshv1alpha1.LabelInjection: "enabled"})},
			wantStatus:  meshv1alpha1.MembersStatus{Pending: []string{"missing", "y"}, Conflicted: []string{"x"}},
			wantChanges: map[string]labelChange{},
		},
		"the later releases a namespace the earlier claims": {
			self:       bLater,
			others:     []*meshv1alpha1.MeshControlPlane{a},
			namespaces: []corev1.Namespace{ns("x", map[string]string{meshv1alpha1.LabelMemberOf: "cp2.b", meshv1alpha1.LabelInjection: "enabled"})},
			wantStatus: meshv1alpha1.MembersStatus{Conflicted: []string{"x"}},
			wantChanges: map[string]labelChange{
				"x": {meshv1alpha1.LabelMemberOf: nil, meshv1alpha1.LabelInjection: nil},
			},
		},
		"user labels are left alone": {
			self: a,
			namespaces: []corev1.Namespace{
				ns("x", map[string]string{meshv1alpha1.LabelInjection: "enabled"}),
				ns("y", map[string]string{meshv1alpha1.LabelInjection: "disabled"}),
			},
			wantStatus:  meshv1alpha1.MembersStatus{Configured: []string{"x"}, Pending: []string{"missing"}, Conflicted: []string{"y"}},
			wantChanges: map[string]labelChange{},
		},
		"deleting: remove only what was added": {
			self: deleting,
			namespaces: []corev1.Namespace{
				ns("x", map[string]string{meshv1alpha1.LabelMemberOf: "cp.a", meshv1alpha1.LabelInjection: "enabled", "k": "v"}),
				ns("y", map[string]string{meshv1alpha1.LabelMemberOf: "cp.a", meshv1alpha1.LabelInjection: "disabled"}),
				ns("z", map[string]string{meshv1alpha1.LabelInjection: "enabled"}),
			},
			wantChanges: map[string]labelChange{
				"x": {meshv1alpha1.LabelMemberOf: nil, meshv1alpha1.LabelInjection: nil},
				"y": {meshv1alpha1.LabelMemberOf: nil},
			},
		},
		"revision selector skips kube-* and openshift-*": {
			self:       rev,
			namespaces: []corev1.Namespace{ns("app", map[string]string{"m": "1"}), ns("kube-x", map[string]string{"m": "1"}), ns("openshift-y", map[string]string{"m": "1"}), ns("other", nil)},
			wantStatus: meshv1alpha1.MembersStatus{Configured: []string{"app"}},
			wantChanges: map[string]labelChange{
				"app": {meshv1alpha1.LabelMemberOf: str("cp.r"), meshv1alpha1.LabelRevision: str("blue")},
			},
		},
		"revision: a user's istio-injection label takes precedence": {
			self:        rev,
			namespaces:  []corev1.Namespace{ns("app", map[string]string{"m": "1", meshv1alpha1.LabelInjection: "enabled"})},
			wantStatus:  meshv1alpha1.MembersStatus{Conflicted: []string{"app"}},
			wantChanges: map[string]labelChange{},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			all := []meshv1alpha1.MeshControlPlane{*tc.self}
			for _, o := range tc.others {
				all = append(all, *o)
			}
			plan := planMembers(tc.self, all, tc.namespaces)
			if diff := cmp.Diff(tc.wantStatus, plan.Status); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantChanges, plan.Changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			if len(plan.Status.Conflicted) != len(plan.Conflicts) {
				t.Errorf("every conflicted namespace needs a message: %v", plan.Conflicts)
			}
		})
	}
}
