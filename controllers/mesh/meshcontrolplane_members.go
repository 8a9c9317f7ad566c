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
	key := membership.Key(self)
	labelKey, labelValue := membershipLabel(self)

	owned := map[string]bool{}
	if self.DeletionTimestamp == nil {
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
		for n := range mine {
			var winner *meshv1alpha1.MeshControlPlane
			for _, o := range otherClaims[n] {
				if membership.Earlier(o, self) && (winner == nil || membership.Earlier(o, winner)) {
					winner = o
				}
			}
			if winner != nil {
				plan.Status.Conflicted = append(plan.Status.Conflicted, n)
				plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("namespace %s belongs to MeshControlPlane %s/%s (created earlier)", n, winner.Namespace, winner.Name))
				continue
			}
			owned[n] = true
		}
	}

	holder := map[string]*meshv1alpha1.MeshControlPlane{}
	for i := range all {
		holder[membership.Key(&all[i])] = &all[i]
	}
	for i := range namespaces {
		ns := &namespaces[i]
		cur := ns.Labels
		memberOf, hasMemberOf := cur[meshv1alpha1.LabelMemberOf]
		if !owned[ns.Name] {
			if hasMemberOf && memberOf == key {
				ch := labelChange{meshv1alpha1.LabelMemberOf: nil}
				if cur[labelKey] == labelValue {
					ch[labelKey] = nil
				}
				plan.Changes[ns.Name] = ch
			}
			continue
		}
		// Owned by self.
		if hasMemberOf && memberOf != key && holder[memberOf] != nil {
			// Another control plane still holds it (e.g. a later one that has
			// not released it yet, or one being deleted): wait for it to
			// remove its own labels rather than leave them behind.
			h := holder[memberOf]
			plan.Status.Conflicted = append(plan.Status.Conflicted, ns.Name)
			plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("namespace %s is still labelled by MeshControlPlane %s/%s; waiting for it to release the namespace", ns.Name, h.Namespace, h.Name))
			continue
		}
		if !hasMemberOf {
			if v, ok := cur[labelKey]; ok {
				if v == labelValue {
					// The user labelled it already: a member, but not ours to remove.
					plan.Status.Configured = append(plan.Status.Configured, ns.Name)
				} else {
					plan.Status.Conflicted = append(plan.Status.Conflicted, ns.Name)
					plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("namespace %s has its own label %s=%s; remove it to let the operator manage membership", ns.Name, labelKey, v))
				}
				continue
			}
			if _, ok := cur[meshv1alpha1.LabelInjection]; ok && labelKey == meshv1alpha1.LabelRevision {
				plan.Status.Conflicted = append(plan.Status.Conflicted, ns.Name)
				plan.Conflicts = append(plan.Conflicts, fmt.Sprintf("namespace %s has its own %s label, which takes precedence over %s", ns.Name, meshv1alpha1.LabelInjection, meshv1alpha1.LabelRevision))
				continue
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
	sort.Strings(plan.Status.Configured)
	sort.Strings(plan.Status.Conflicted)
	sort.Strings(plan.Conflicts)
	return plan
}
