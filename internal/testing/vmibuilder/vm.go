package vmibuilder

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// VMWrapper wraps a VirtualMachine under construction.
type VMWrapper struct {
	virtv1alpha1.VirtualMachine
}

// MakeVM returns a VirtualMachine called name in namespace "default" with
// runStrategy Always and MakeVMI(name)'s spec as its template.
func MakeVM(name string) *VMWrapper {
	always := virtv1alpha1.RunStrategyAlways
	return &VMWrapper{virtv1alpha1.VirtualMachine{
		TypeMeta:   metav1.TypeMeta{APIVersion: virtv1alpha1.GroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: virtv1alpha1.VirtualMachineSpec{
			RunStrategy: &always,
			Template:    virtv1alpha1.VirtualMachineInstanceTemplateSpec{Spec: MakeVMI(name).Spec},
		},
	}}
}

// Obj returns a deep copy of the VM built so far.
func (w *VMWrapper) Obj() *virtv1alpha1.VirtualMachine { return w.DeepCopy() }

// Namespace sets the namespace.
func (w *VMWrapper) Namespace(ns string) *VMWrapper { w.ObjectMeta.Namespace = ns; return w }

// UID sets metadata.uid.
func (w *VMWrapper) UID(uid string) *VMWrapper { w.ObjectMeta.UID = types.UID(uid); return w }

// RunStrategy sets spec.runStrategy.
func (w *VMWrapper) RunStrategy(s virtv1alpha1.RunStrategy) *VMWrapper {
	w.Spec.RunStrategy = &s
	w.Spec.Running = nil
	return w
}

// Running sets KubeVirt's deprecated spec.running instead of runStrategy.
func (w *VMWrapper) Running(running bool) *VMWrapper {
	w.Spec.Running = &running
	w.Spec.RunStrategy = nil
	return w
}

// TemplateLabel adds a label to the template's metadata.
func (w *VMWrapper) TemplateLabel(k, v string) *VMWrapper {
	if w.Spec.Template.ObjectMeta.Labels == nil {
		w.Spec.Template.ObjectMeta.Labels = map[string]string{}
	}
	w.Spec.Template.ObjectMeta.Labels[k] = v
	return w
}

// RestartRequest sets the restart-request annotation.
func (w *VMWrapper) RestartRequest(v string) *VMWrapper {
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[virtv1alpha1.AnnotationRestartRequestedAt] = v
	return w
}

// Status sets the status.
func (w *VMWrapper) Status(s virtv1alpha1.VirtualMachineStatus) *VMWrapper {
	w.VirtualMachine.Status = s
	return w
}
