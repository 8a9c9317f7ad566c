package v1alpha1

// ReservedProxyPorts are the ports the mesh proxy uses inside every pod. They
// are never forwarded into a VM and never allowed as VM ports. The CEL rules in
// both APIs list them literally; a test keeps those lists equal to this one.
var ReservedProxyPorts = []int32{15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090}

// Namespace labels the mesh uses for membership.
const (
	// LabelInjection marks a member namespace of the default revision.
	LabelInjection = "istio-injection"
	// LabelRevision marks a member namespace of a named revision.
	LabelRevision = "istio.io/rev"
	// LabelMemberOf names the MeshControlPlane ("<namespace>.<name>") that added the
	// membership label, so removal takes away only what the operator added.
	LabelMemberOf = "mesh.virtmesh.io/member-of"
)
