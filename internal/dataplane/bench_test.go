package dataplane

import (
	"testing"

	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/netcfg"
)

// BenchmarkRenderRules measures RenderRules for one IPv4 nat table of a VM
// with three ports, outside the mesh ("nomesh", the baseline) and in it with
// the default mesh settings ("mesh"). Compare the two in the same run (see
// docs/performance.md), e.g.
//
//	go test ./internal/dataplane -run '^$' -bench RenderRules -benchmem -count 6
//
// net-setup renders each family once per pod start; the per-call cost is
// what a benchmark can show, the per-pod cost is at most two calls.
func BenchmarkRenderRules(b *testing.B) {
	d := netcfg.WithPorts(podcontract.DefaultNetSetupOptions())
	cases := []struct {
		name string
		cfg  podcontract.NetSetupOptions
	}{
		{name: "nomesh", cfg: d},
		{name: "mesh", cfg: netcfg.WithMesh(d, nil)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			if _, err := RenderRules(c.cfg, IPv4, podIPv4, podIPv6); err != nil {
				b.Fatalf("RenderRules: %v", err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := RenderRules(c.cfg, IPv4, podIPv4, podIPv6); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
