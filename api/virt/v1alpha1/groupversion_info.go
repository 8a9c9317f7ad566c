// Package v1alpha1 holds the virt.virtmesh.io/v1alpha1 API: a VirtualMachineInstance
// whose YAML reads like KubeVirt's kubevirt.io/v1 VirtualMachineInstance for the
// subset VirtMesh supports, so a KubeVirt manifest works after changing apiVersion.
//
// +kubebuilder:object:generate=true
// +groupName=virt.virtmesh.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "virt.virtmesh.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
