// Package membership is the pure rule that says which namespaces a
// MeshControlPlane's spec claims as mesh members and which control plane
// owns a namespace several of them claim. The mesh controller labels member
// namespaces from it; the VMI controller enrolls VMIs from it, so a VMI
// created together with its member namespace (before the labels land) joins
// the mesh its namespace was declared into.
//
// A namespace is claimed by a MeshControlPlane when spec.members.namespaces
// lists it or spec.members.selector matches its labels. The control plane's
// own namespace, kube-system, kube-* and openshift-* are never members. A
// namespace claimed by several control planes belongs to the earliest (by
// creationTimestamp, then namespace/name); a control plane being deleted
// claims nothing it owns.
package membership

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
)

// Excluded reports namespaces that are never members of a control plane
// living in controlPlaneNamespace.
func Excluded(ns, controlPlaneNamespace string) bool {
	return ns == controlPlaneNamespace || ns == "kube-system" ||
		strings.HasPrefix(ns, "kube-") || strings.HasPrefix(ns, "openshift-")
}

// Key is the mesh.virtmesh.io/member-of value naming mcp: <namespace>.<name>,
// or, when that is longer than a label value may be (63), its first
// characters and a hash of the whole, so every control plane gets a valid,
// distinct value.
func Key(mcp *meshv1alpha1.MeshControlPlane) string {
	key := mcp.Namespace + "." + mcp.Name
	if len(key) <= validation.LabelValueMaxLength {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	hash := hex.EncodeToString(sum[:])[:10]
	prefix := strings.TrimRight(key[:validation.LabelValueMaxLength-len(hash)-1], ".-_")
	return prefix + "-" + hash
}

// Earlier orders MeshControlPlanes by creationTimestamp, then namespace/name.
func Earlier(a, b *meshv1alpha1.MeshControlPlane) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return Key(a) < Key(b)
}

// Claim says how a control plane's spec claims a namespace.
type Claim int

const (
	// NotClaimed means neither listed nor selected (or excluded).
	NotClaimed Claim = iota
	// Listed means listed in spec.members.namespaces.
	Listed
	// Selected means selected by spec.members.selector.
	Selected
)

// Claims reports whether mcp's spec claims the namespace called name with
// these labels. It does not look at mcp's deletion (see Owner). A selector
// that does not parse, or an empty one, selects nothing.
func Claims(mcp *meshv1alpha1.MeshControlPlane, name string, nsLabels map[string]string) Claim {
	if Excluded(name, mcp.Namespace) {
		return NotClaimed
	}
	for _, n := range mcp.Spec.Members.Namespaces {
		if n == name {
			return Listed
		}
	}
	if mcp.Spec.Members.Selector != nil {
		if sel, err := metav1.LabelSelectorAsSelector(mcp.Spec.Members.Selector); err == nil && !sel.Empty() && sel.Matches(labels.Set(nsLabels)) {
			return Selected
		}
	}
	return NotClaimed
}

// ClaimsAmong returns the existing (not terminating) namespaces mcp claims,
// plus the listed namespaces that do not exist, sorted. It is the
// mesh controller's view over every namespace.
func ClaimsAmong(mcp *meshv1alpha1.MeshControlPlane, namespaces []corev1.Namespace) (existing map[string]bool, missing []string) {
	existing = map[string]bool{}
	present := map[string]bool{}
	for i := range namespaces {
		ns := &namespaces[i]
		present[ns.Name] = true
		if ns.DeletionTimestamp == nil && Claims(mcp, ns.Name, ns.Labels) != NotClaimed {
			existing[ns.Name] = true
		}
	}
	for _, n := range mcp.Spec.Members.Namespaces {
		if !present[n] && !Excluded(n, mcp.Namespace) {
			missing = append(missing, n)
		}
	}
	sort.Strings(missing)
	return existing, missing
}

// Owner returns the control plane that owns the namespace called name by
// spec: the earliest of the control planes not being deleted that claim it,
// and how it claims it. ns may be nil when the namespace is not known yet
// (a listed name still counts; a selector cannot match). A terminating
// namespace has no owner. nil, NotClaimed when none claims it.
func Owner(name string, ns *corev1.Namespace, mcps []meshv1alpha1.MeshControlPlane) (*meshv1alpha1.MeshControlPlane, Claim) {
	var nsLabels map[string]string
	if ns != nil {
		if ns.DeletionTimestamp != nil {
			return nil, NotClaimed
		}
		nsLabels = ns.Labels
	}
	var owner *meshv1alpha1.MeshControlPlane
	how := NotClaimed
	for i := range mcps {
		m := &mcps[i]
		if m.DeletionTimestamp != nil {
			continue
		}
		c := Claims(m, name, nsLabels)
		if c == NotClaimed {
			continue
		}
		if owner == nil || Earlier(m, owner) {
			owner, how = m, c
		}
	}
	return owner, how
}
