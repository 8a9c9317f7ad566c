package virt

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"virtmesh.io/virtmesh/internal/render/launcherpod"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

// TestInterfacesListReachableIPs: status.interfaces lists the pod IPs the
// VM answers at: a dual-stack pod's IPv6 address only when the pod was
// rendered with the VM's IPv6 (the operator's --vm-ipv6), read back from
// compute's flags.
func TestInterfacesListReachableIPs(t *testing.T) {
	vmi := vb.MakeVMI("vm").UID("uid-1").Port("http", 9080).Obj()
	for _, tc := range []struct {
		name   string
		vmIPv6 bool
		podIPs []string
		want   []string
	}{
		{"dual-stack, VM IPv4-only", false, []string{"10.244.1.5", "fd00:10:244:1::5"}, []string{"10.244.1.5"}},
		{"dual-stack, VM with IPv6", true, []string{"10.244.1.5", "fd00:10:244:1::5"}, []string{"10.244.1.5", "fd00:10:244:1::5"}},
		{"IPv6 first, VM IPv4-only", false, []string{"fd00:10:244:1::5", "10.244.1.5"}, []string{"10.244.1.5"}},
		{"IPv4 only", true, []string{"10.244.1.5"}, []string{"10.244.1.5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod, err := launcherpod.RenderLauncherPod(vmi, nil, launcherpod.Options{LauncherImage: "launcher:test", VMIPv6: tc.vmIPv6})
			if err != nil {
				t.Fatal(err)
			}
			pod.Status.PodIP = tc.podIPs[0]
			for _, ip := range tc.podIPs {
				pod.Status.PodIPs = append(pod.Status.PodIPs, corev1.PodIP{IP: ip})
			}
			got := interfaces(vmi, pod)
			if len(got) != 1 {
				t.Fatalf("interfaces = %+v, want one", got)
			}
			if diff := cmp.Diff(tc.want, got[0].IPs); diff != "" || got[0].IP != tc.want[0] {
				t.Errorf("ip %q, ips (-want +got):\n%s", got[0].IP, diff)
			}
		})
	}
}
