// Package scheme builds the runtime.Scheme the operator and its tests share:
// the core Kubernetes kinds plus both VirtMesh APIs.
package scheme

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// New returns a scheme with the core kinds and both VirtMesh APIs.
func New() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, meshv1alpha1.AddToScheme, virtv1alpha1.AddToScheme} {
		if err := add(s); err != nil {
			panic(err) // only on conflicting registrations: a programming error
		}
	}
	return s
}
