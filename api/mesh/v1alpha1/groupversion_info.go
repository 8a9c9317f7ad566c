// Package v1alpha1 holds the mesh.virtmesh.io/v1alpha1 API: a MeshControlPlane that
// installs and runs an Istio-compatible control plane (discovery, gateways, addons),
// decides which namespaces are mesh members, and publishes the proxy settings the
// VirtualMachineInstance controller renders into launcher pods.
//
// +kubebuilder:object:generate=true
// +groupName=mesh.virtmesh.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "mesh.virtmesh.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
