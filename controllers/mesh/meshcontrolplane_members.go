package mesh

import (
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/membership"
)

// membershipLabel is the label (key, value) a MeshControlPlane puts on members.
func membershipLabel(mcp *meshv1alpha1.MeshControlPlane) (string, string) {
	if mcp.Spec.Revision != "" {
		return meshv1alpha1.LabelRevision, mcp.Spec.Revision
	}
	return meshv1alpha1.LabelInjection, "enabled"
}

// labelChange is a patch of one namespace's labels: set keys to values, and
// remove keys (nil value).
type labelChange map[string]*string

// memberPlan is what the membership reconcile does and reports.
type memberPlan struct {
	Status    meshv1alpha1.MembersStatus
	Conflicts []string // human-readable, for the MemberConflict message
	Changes   map[string]labelChange
}

// planMembers computes the membership of self given every namespace and every
// MeshControlPlane (self included). A namespace claimed by several control
// planes belongs to the earliest; the others report a conflict and leave it
// alone. A user's own injection label (no LabelMemberOf) is never changed.
// Namespaces that carry LabelMemberOf=self but are no longer owned lose the
// labels the operator added and nothing else.
func planMembers(self *meshv1alpha1.MeshControlPlane, all []meshv1alpha1.MeshControlPlane, namespaces []corev1.Namespace) memberPlan {
	plan := memberPlan{Changes: map[string]labelChange{}}
	owned := map[string]bool{}
	if self.DeletionTimestamp == nil {
		owned = plan.claim(self, all, namespaces)
	}
	holder := map[string]*meshv1alpha1.MeshControlPlane{}
	for i := range all {
		holder[membership.Key(&all[i])] = &all[i]
	}
	for i := range namespaces {
		if owned[namespaces[i].Name] {
			plan.own(self, &namespaces[i], holder)
		} else {
			plan.release(self, &namespaces[i])
		}
	}
	sort.Strings(plan.Status.Configured)
	sort.Strings(plan.Status.Conflicted)
	sort.Strings(plan.Conflicts)
	return plan
}

// claim returns the namespaces self's spec claims and no earlier control
// plane claims too; the others are conflicts, and listed namespaces that do
// not exist are pending.
func (plan *memberPlan) claim(self *meshv1alpha1.MeshControlPlane, all []meshv1alpha1.MeshControlPlane, namespaces []corev1.Namespace) map[string]bool {
	key := membership.Key(self)
	mine, missing := membership.ClaimsAmong(self, namespaces)
	plan.Status.Pending = missing
	otherClaims := map[string][]*meshv1alpha1.MeshControlPlane{}
	for i := range all {
		o := &all[i]
		if membership.Key(o) == key || o.DeletionTimestamp != nil {
			continue
		}
		oc, _ := membership.ClaimsAmong(o, namespaces)
		for n := range oc {
			if mine[n] {
				otherClaims[n] = append(otherClaims[n], o)
			}
		}
	}
	owned := map[string]bool{}
	for n := range mine {
		var winner *meshv1alpha1.MeshControlPlane
		for _, o := range otherClaims[n] {
			if membership.Earlier(o, self) && (winner == nil || membership.Earlier(o, winner)) {
				winner = o
			}
		}
		if winner != nil {
			plan.conflict(n, "namespace %s belongs to MeshControlPlane %s/%s (created earlier)", n, winner.Namespace, winner.Name)
			continue
		}
		owned[n] = true
	}
	return owned
}

// release removes the labels self added to a namespace it no longer owns.
func (plan *memberPlan) release(self *meshv1alpha1.MeshControlPlane, ns *corev1.Namespace) {
	labelKey, labelValue := membershipLabel(self)
	if memberOf, ok := ns.Labels[meshv1alpha1.LabelMemberOf]; !ok || memberOf != membership.Key(self) {
		return
	}
	ch := labelChange{meshv1alpha1.LabelMemberOf: nil}
	if ns.Labels[labelKey] == labelValue {
		ch[labelKey] = nil
	}
	plan.Changes[ns.Name] = ch
}

// own labels a namespace self owns, unless another control plane still holds
// it or the user's own labels say otherwise.
func (plan *memberPlan) own(self *meshv1alpha1.MeshControlPlane, ns *corev1.Namespace, holder map[string]*meshv1alpha1.MeshControlPlane) {
	key := membership.Key(self)
	labelKey, labelValue := membershipLabel(self)
	cur := ns.Labels
	memberOf, hasMemberOf := cur[meshv1alpha1.LabelMemberOf]
	if h := holder[memberOf]; hasMemberOf && memberOf != key && h != nil {
		// Another control plane still holds it (e.g. a later one that has
		// not released it yet, or one being deleted): wait for it to remove
		// its own labels rather than leave them behind.
		plan.conflict(ns.Name, "namespace %s is still labelled by MeshControlPlane %s/%s; waiting for it to release the namespace", ns.Name, h.Namespace, h.Name)
		return
	}
	if !hasMemberOf {
		if v, ok := cur[labelKey]; ok {
			if v == labelValue {
				// The user labelled it already: a member, but not ours to remove.
				plan.Status.Configured = append(plan.Status.Configured, ns.Name)
			} else {
				plan.conflict(ns.Name, "namespace %s has its own label %s=%s; remove it to let the operator manage membership", ns.Name, labelKey, v)
			}
			return
		}
		if _, ok := cur[meshv1alpha1.LabelInjection]; ok && labelKey == meshv1alpha1.LabelRevision {
			plan.conflict(ns.Name, "namespace %s has its own %s label, which takes precedence over %s", ns.Name, meshv1alpha1.LabelInjection, meshv1alpha1.LabelRevision)
			return
		}
	}
	plan.Status.Configured = append(plan.Status.Configured, ns.Name)
	ch := labelChange{}
	if memberOf != key {
		ch[meshv1alpha1.LabelMemberOf] = &key
	}
	if cur[labelKey] != labelValue {
		ch[labelKey] = &labelValue
	}
	if len(ch) > 0 {
		plan.Changes[ns.Name] = ch
	}
}

// conflict records a namespace self claims but does not label, and why.
func (plan *memberPlan) conflict(ns, format string, args ...any) {
	plan.Status.Conflicted = append(plan.Status.Conflicted, ns)
	plan.Conflicts = append(plan.Conflicts, fmt.Sprintf(format, args...))
}
