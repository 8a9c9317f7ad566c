package main

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
	"virtmesh.io/virtmesh/internal/testing/benchobjects"
)

// launcherImage is the manager Deployment's RELATED_IMAGE_LAUNCHER
// (config/manager/manager.yaml), the image the operator renders.
const launcherImage = "quay.io/virtmesh/virt-launcher:v0.1.0"

// baselineUID stands in for the VMI UID the rendered baseline pod carries in
// its name and annotations (the same length as a real one).
const baselineUID types.UID = "00000000-0000-4000-8000-000000000000"

var (
	vmiTemplate virtv1alpha1.VirtualMachineInstance
	podTemplate *corev1.Pod
)

func init() {
	if err := yaml.UnmarshalStrict([]byte(benchobjects.ScaleVMIYAML), &vmiTemplate); err != nil {
		panic(err)
	}
	var err error
	if podTemplate, err = baselinePod(); err != nil {
		panic(err)
	}
}

func newVMI(ns string, i int) *virtv1alpha1.VirtualMachineInstance {
	v := vmiTemplate.DeepCopy()
	v.Namespace, v.Name = ns, fmt.Sprintf("vm-%d", i)
	return v
}

func newPod(ns string, i int) *corev1.Pod {
	p := podTemplate.DeepCopy()
	p.Namespace, p.Name = ns, fmt.Sprintf("pod-%d", i)
	return p
}

// baselinePod is the pod the baseline creates directly: the launcher pod
// the operator renders for the scale VMI outside the mesh (the same
// RenderLauncherPod, so the same containers, arguments, annotations and
// requests, the VMI JSON annotation included), without what makes it the
// operator's: the owner reference (the garbage collector would delete a pod
// of a VMI that does not exist), the finalizer the operator removes, and the
// label that puts it in the operator's pod cache.
func baselinePod() (*corev1.Pod, error) {
	vmi := vmiTemplate.DeepCopy()
	vmi.Namespace, vmi.Name, vmi.UID = "scale", "vm-0", baselineUID
	pod, err := launcherpod.RenderLauncherPod(vmi, nil, launcherpod.Options{LauncherImage: launcherImage})
	if err != nil {
		return nil, fmt.Errorf("render the baseline pod: %w", err)
	}
	pod.OwnerReferences, pod.Finalizers = nil, nil
	delete(pod.Labels, virtv1alpha1.LabelVMI)
	return pod, nil
}

// podShape is what a baseline pod must share with the operator's launcher
// pods: each container's name, image and requests, and the annotation keys.
func podShape(p *corev1.Pod) string {
	var s []string
	for _, list := range [][]corev1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for _, c := range list {
			s = append(s, fmt.Sprintf("%s=%s %s/%s", c.Name, c.Image, c.Resources.Requests.Cpu(), c.Resources.Requests.Memory()))
		}
		s = append(s, "|")
	}
	keys := slices.Sorted(maps.Keys(p.Annotations))
	return strings.Join(append(s, keys...), " ")
}
