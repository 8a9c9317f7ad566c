package launcherpod

import (
	"testing"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
)

// BenchmarkRenderLauncherPod measures RenderLauncherPod for the same VMI
// shape (the Bookinfo details VM of the golden tests) outside the mesh and
// enrolled in it. "plain" is the baseline: compare mesh-enrolled against it
// in the same run (see docs/performance.md), e.g.
//
//	go test ./internal/render/launcherpod -run '^$' -bench RenderLauncherPod -benchmem -count 6
//
// The inputs are built once; each iteration renders a fresh pod from them,
// exactly as the controller does on every reconcile that needs the pod.
func BenchmarkRenderLauncherPod(b *testing.B) {
	cases := []struct {
		name string
		vmi  *virtv1alpha1.VirtualMachineInstance
		mesh *injection.Settings
	}{
		// Not enrolled: the controller passes no settings.
		{name: "plain", vmi: details().Obj()},
		{name: "mesh-enrolled", vmi: details().Obj(), mesh: testSettings()},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if _, err := RenderLauncherPod(c.vmi, c.mesh, testOpts); err != nil {
				b.Fatalf("RenderLauncherPod: %v", err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := RenderLauncherPod(c.vmi, c.mesh, testOpts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
