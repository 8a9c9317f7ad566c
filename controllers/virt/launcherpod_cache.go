package virt

import (
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"virtmesh.io/virtmesh/internal/render/launcherpod"
)

// LauncherPodCache is how the manager caches pods: launcher pods only
// (LauncherPodSelector), each trimmed to what the controllers read
// (TrimLauncherPod). main.go and the envtest suite use it, so the suite
// runs the controllers on the same trimmed objects as the operator.
func LauncherPodCache() cache.ByObject {
	return cache.ByObject{Label: LauncherPodSelector(), Transform: TrimLauncherPod}
}

// keptPodAnnotations are the only pod annotations the controllers read.
// Everything else a launcher pod carries is for the launcher or the mesh:
// above all the VMI JSON (podcontract.VMIAnnotation), a copy of the whole
// VMI spec, and the proxy config, which together are most of a cached pod.
var keptPodAnnotations = []string{launcherpod.AnnotationMeshControlPlane, launcherpod.AnnotationMeshSnapshot}

// TrimLauncherPod is a cache transform that keeps of a pod what the VMI and
// VM controllers, their mappers and the node index read, and drops the rest
// before the informer stores it: at 1000 VMIs the cached pods were most of
// the operator's heap. Kept: all of the metadata except managedFields and
// the annotations outside keptPodAnnotations (labels, owner references,
// deletion timestamp, UID, resource version), spec.nodeName, each
// container's name and args (launcherpod.ComputeOptions parses the compute
// container's flags), and the whole status. A trimmed pod must never be
// written back: the controllers only create rendered pods and delete by UID.
// TestTrimLauncherPodKeepsStatus proves the computed VMI status is the same.
func TrimLauncherPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	if len(pod.Annotations) > 0 {
		kept := map[string]string{}
		for _, k := range keptPodAnnotations {
			if v, ok := pod.Annotations[k]; ok {
				kept[k] = v
			}
		}
		pod.Annotations = kept
	}
	spec := corev1.PodSpec{NodeName: pod.Spec.NodeName}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		spec.Containers = append(spec.Containers, corev1.Container{Name: c.Name, Args: c.Args})
	}
	pod.Spec = spec
	return pod, nil
}
