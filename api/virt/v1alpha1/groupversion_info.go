// Package v1alpha1 holds the virt.virtmesh.io/v1alpha1 API: a VirtualMachineInstance
// whose YAML reads like KubeVirt's kubevirt.io/v1 VirtualMachineInstance for the
// subset VirtMesh supports, so a KubeVirt manifest works after changing apiVersion.
//
// +kubebuilder:object:generate=true
// +groupName=virt.virtmesh.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "virt.virtmesh.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	// It is apimachinery's, so the API package needs no controller-runtime.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes are the kinds of this package, each file's init adds its own.
	knownTypes []runtime.Object
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
