package podcontract_test

import (
	"slices"
	"testing"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// TestReservedPortsMatchAPI ties the launcher's reserved ports to the API's
// list (test/validation ties the API's list to the CRDs' CEL rules).
func TestReservedPortsMatchAPI(t *testing.T) {
	var api []uint16
	for _, p := range meshv1alpha1.ReservedProxyPorts {
		api = append(api, uint16(p))
	}
	if !slices.Equal(api, podcontract.ReservedMeshPorts) {
		t.Errorf("meshv1alpha1.ReservedProxyPorts = %v, podcontract.ReservedMeshPorts = %v: keep them equal", api, podcontract.ReservedMeshPorts)
	}
	for _, p := range podcontract.AlwaysExcludedInboundPorts {
		if !slices.Contains(podcontract.ReservedMeshPorts, p) {
			t.Errorf("always-excluded inbound port %d is not a reserved port", p)
		}
	}
	for _, p := range []uint16{podcontract.InboundCapturePort, podcontract.OutboundCapturePort} {
		if !slices.Contains(podcontract.ReservedMeshPorts, p) {
			t.Errorf("capture port %d is not a reserved port", p)
		}
	}
}
