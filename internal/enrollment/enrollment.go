// Package enrollment decides whether a VirtualMachineInstance joins the mesh
// and through which MeshControlPlane. Decide is pure: the caller passes the
// VMI's namespace and the MeshControlPlanes it listed, and gets a decision
// with the reason and message the VMI's MeshEnrolled condition shows.
//
// The rules follow Istio's injection semantics:
//
//  1. The VMI annotation sidecar.istio.io/inject: "false" always opts out.
//  2. A namespace labelled istio-injection=disabled is never enrolled.
//  3. A member namespace enrolls its VMIs: mesh.virtmesh.io/member-of=<ns>.<name>
//     names the MeshControlPlane directly; else istio-injection=enabled selects
//     the one control plane without a revision; else istio.io/rev=<r> selects
//     the one control plane with revision r (istio-injection wins over
//     istio.io/rev, as in Istio).
//  4. A namespace that a MeshControlPlane's spec claims (spec.members lists or
//     selects it; see package membership for the exclusions and the
//     earliest-wins conflict rule) enrolls its VMIs in that control plane
//     even before the mesh controller labels it: the labels are only the
//     effect of the declared membership, and a VMI created together with its
//     namespace must not miss the mesh. Where the mesh controller would leave
//     a user's conflicting label in place (istio-injection on a namespace
//     claimed by a revisioned control plane, or another istio.io/rev value),
//     the label decides as in rule 3; a member-of label naming a control
//     plane that no longer exists gives way to the declared owner.
//  5. Outside member namespaces, sidecar.istio.io/inject: "true" opts a VMI in
//     to the single default-revision control plane.
package enrollment

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/membership"
)

// Decision is the outcome for one VMI.
type Decision struct {
	// Enrolled is true when the VMI joins the mesh of ControlPlane.
	Enrolled bool
	// ControlPlane is the MeshControlPlane (set only when Enrolled).
	ControlPlane types.NamespacedName
	// Reason and Message go into the MeshEnrolled condition.
	Reason  string
	Message string
}

// Decide applies the rules in the package comment. ns may be nil when the
// namespace is not known (it is then treated as unlabelled).
func Decide(vmi *virtv1alpha1.VirtualMachineInstance, ns *corev1.Namespace, mcps []meshv1alpha1.MeshControlPlane) Decision {
	inject := vmi.Annotations[virtv1alpha1.AnnotationInject]
	if inject == "false" {
		return Decision{Reason: virtv1alpha1.ReasonOptedOut, Message: fmt.Sprintf("the VMI opts out of the mesh with the annotation %s: \"false\"", virtv1alpha1.AnnotationInject)}
	}
	var labels map[string]string
	if ns != nil {
		labels = ns.Labels
	}
	nsName := vmi.Namespace
	if labels[meshv1alpha1.LabelInjection] == "disabled" {
		return Decision{Reason: virtv1alpha1.ReasonInjectionDisabled, Message: fmt.Sprintf("namespace %s is labelled %s=disabled, which keeps its workloads out of the mesh", nsName, meshv1alpha1.LabelInjection)}
	}

	// The control plane whose spec claims the namespace, if any.
	owner, how := membership.Owner(nsName, ns, mcps)

	if member := labels[meshv1alpha1.LabelMemberOf]; member != "" {
		cpNS, cpName, _ := strings.Cut(member, ".")
		for i := range mcps {
			if mcps[i].Namespace == cpNS && mcps[i].Name == cpName {
				return enrolled(&mcps[i], virtv1alpha1.ReasonNamespaceMember, fmt.Sprintf("namespace %s is a member of MeshControlPlane %s/%s (label %s)", nsName, cpNS, cpName, meshv1alpha1.LabelMemberOf))
			}
		}
		if owner != nil {
			// The mesh controller relabels it for the owner.
			return declared(nsName, owner, how)
		}
		return Decision{Reason: virtv1alpha1.ReasonNoControlPlane, Message: fmt.Sprintf("namespace %s is labelled %s=%s but that MeshControlPlane does not exist", nsName, meshv1alpha1.LabelMemberOf, member)}
	}
	if labels[meshv1alpha1.LabelInjection] == "enabled" {
		return pick(defaultRevision(mcps), owner, virtv1alpha1.ReasonNamespaceMember, fmt.Sprintf("namespace %s is labelled %s=enabled", nsName, meshv1alpha1.LabelInjection), "without a revision")
	}
	rev := labels[meshv1alpha1.LabelRevision]
	if owner != nil && (owner.Spec.Revision == "" || rev == "" || rev == owner.Spec.Revision) {
		// A default-revision owner labels istio-injection=enabled, which wins
		// over any istio.io/rev; a revisioned owner leaves another
		// istio.io/rev value alone (a conflict) and the label decides below.
		return declared(nsName, owner, how)
	}
	if rev != "" {
		cands := withRevision(mcps, rev)
		if len(cands) == 0 && rev == "default" {
			cands = defaultRevision(mcps)
		}
		return pick(cands, nil, virtv1alpha1.ReasonNamespaceMember, fmt.Sprintf("namespace %s is labelled %s=%s", nsName, meshv1alpha1.LabelRevision, rev), "with revision "+rev)
	}
	if inject == "true" {
		return pick(defaultRevision(mcps), nil, virtv1alpha1.ReasonOptedIn, fmt.Sprintf("the VMI opts in with the annotation %s: \"true\"", virtv1alpha1.AnnotationInject), "without a revision")
	}
	return Decision{Reason: virtv1alpha1.ReasonNotMember, Message: fmt.Sprintf("namespace %s is not a member of any MeshControlPlane and the VMI does not opt in with the annotation %s: \"true\"", nsName, virtv1alpha1.AnnotationInject)}
}

func enrolled(mcp *meshv1alpha1.MeshControlPlane, reason, message string) Decision {
	return Decision{Enrolled: true, ControlPlane: types.NamespacedName{Namespace: mcp.Namespace, Name: mcp.Name}, Reason: reason, Message: message}
}

// declared enrolls a VMI in the control plane whose spec claims its namespace.
func declared(nsName string, owner *meshv1alpha1.MeshControlPlane, how membership.Claim) Decision {
	by := "listed in its spec.members.namespaces"
	if how == membership.Selected {
		by = "selected by its spec.members.selector"
	}
	return enrolled(owner, virtv1alpha1.ReasonNamespaceMember, fmt.Sprintf("namespace %s is a member of MeshControlPlane %s/%s (%s)", nsName, owner.Namespace, owner.Name, by))
}

// pick enrolls in the one candidate; among several, in preferred (the
// control plane whose spec claims the namespace) when it is one of them.
func pick(cands []*meshv1alpha1.MeshControlPlane, preferred *meshv1alpha1.MeshControlPlane, reason, why, which string) Decision {
	if len(cands) > 1 && preferred != nil {
		for _, c := range cands {
			if c.Namespace == preferred.Namespace && c.Name == preferred.Name {
				return enrolled(c, reason, fmt.Sprintf("%s and is a member of MeshControlPlane %s/%s: enrolled in it", why, c.Namespace, c.Name))
			}
		}
	}
	switch len(cands) {
	case 1:
		return enrolled(cands[0], reason, fmt.Sprintf("%s: enrolled in MeshControlPlane %s/%s", why, cands[0].Namespace, cands[0].Name))
	case 0:
		return Decision{Reason: virtv1alpha1.ReasonNoControlPlane, Message: fmt.Sprintf("%s, but there is no MeshControlPlane %s", why, which)}
	default:
		names := make([]string, 0, len(cands))
		for _, c := range cands {
			names = append(names, c.Namespace+"/"+c.Name)
		}
		sort.Strings(names)
		return Decision{Reason: virtv1alpha1.ReasonAmbiguous, Message: fmt.Sprintf("%s, but %d MeshControlPlanes %s match (%s): label the namespace %s=<namespace>.<name> to pick one", why, len(cands), which, strings.Join(names, ", "), meshv1alpha1.LabelMemberOf)}
	}
}

func defaultRevision(mcps []meshv1alpha1.MeshControlPlane) []*meshv1alpha1.MeshControlPlane {
	return withRevision(mcps, "")
}

func withRevision(mcps []meshv1alpha1.MeshControlPlane, rev string) []*meshv1alpha1.MeshControlPlane {
	var out []*meshv1alpha1.MeshControlPlane
	for i := range mcps {
		if mcps[i].DeletionTimestamp == nil && mcps[i].Spec.Revision == rev {
			out = append(out, &mcps[i])
		}
	}
	return out
}

// Unresolved reports that the VMI asks for the mesh (its namespace is
// labelled for a control plane, or it opts in) but no single control plane
// answers. The VMI then waits instead of running outside the mesh it asked for.
func (d Decision) Unresolved() bool {
	return !d.Enrolled && (d.Reason == virtv1alpha1.ReasonNoControlPlane || d.Reason == virtv1alpha1.ReasonAmbiguous)
}
