package launcherpod

import (
	corev1 "k8s.io/api/core/v1"

	"virtmesh.io/virtmesh/internal/podcontract"
)

// ComputeOptions reads the compute container's flags back from a rendered
// launcher pod through the contract's parser; ok is false when the pod has
// no compute container or its flags do not parse.
func ComputeOptions(pod *corev1.Pod) (o podcontract.ComputeOptions, ok bool) {
	for _, c := range pod.Spec.Containers {
		if c.Name != podcontract.ContainerCompute || len(c.Args) == 0 || c.Args[0] != podcontract.SubcommandCompute {
			continue
		}
		o, err := podcontract.ParseComputeArgs(c.Args[1:])
		return o, err == nil
	}
	return o, false
}

// VMHasIPv6 reports whether the pod was rendered with the VM's IPv6
// (Options.VMIPv6): only then is the VM reachable at the pod's IPv6
// addresses. A pod whose flags cannot be read counts as IPv4-only.
func VMHasIPv6(pod *corev1.Pod) bool {
	o, ok := ComputeOptions(pod)
	return ok && o.IPv6
}
