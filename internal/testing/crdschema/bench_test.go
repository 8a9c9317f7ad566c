package crdschema

import (
	"context"
	"testing"

	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	"k8s.io/apimachinery/pkg/runtime"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/common"

	"virtmesh.io/virtmesh/internal/testing/benchobjects"
)

// benchRunningStatus is the status the operator's last patch of that VMI
// writes (Running, Ready, the pod's address).
const benchRunningStatus = `
phase: Running
launcherPod: virt-launcher-vm-1-6f1c3a52
nodeName: kwok-node-0
observedGeneration: 1
interfaces:
  - name: default
    ipAddress: 10.0.0.12
    ipAddresses: [10.0.0.12]
    mac: 02:00:00:00:00:01
conditions:
  - type: Ready
    status: "True"
    reason: PodReady
    message: the launcher pod is ready
    lastTransitionTime: "2026-11-30T10:00:01Z"
    observedGeneration: 1
  - type: MeshEnrolled
    status: "False"
    reason: NotRequested
    message: the namespace is not a mesh member
    lastTransitionTime: "2026-11-30T10:00:00Z"
    observedGeneration: 1
phaseTransitionTimestamps:
  - phase: Scheduling
    phaseTransitionTimestamp: "2026-11-30T10:00:00Z"
  - phase: Running
    phaseTransitionTimestamp: "2026-11-30T10:00:01Z"
`

// BenchmarkVMIAdmission measures what the API server spends validating the
// scale run's VMI, with k8s.io/apiextensions-apiserver's own code and the
// CRD under config/crd/bases: the schema alone (the baseline) against the
// schema and the CEL rules, on create and on the status patch to Running
// (every rule runs again on a status write: the API server validates the
// whole object and only ratchets the errors). The scale run's profile of
// kube-apiserver put a fifth of its CPU in these rules; see
// docs/performance.md.
//
//	go test ./internal/testing/crdschema -run '^$' -bench VMIAdmission -benchmem -count 6
func BenchmarkVMIAdmission(b *testing.B) {
	v := VMIs()
	created := requestBody(b, benchobjects.ScaleVMIYAML)
	meta := created["metadata"].(map[string]any)
	meta["name"], meta["namespace"], meta["uid"] = "vm-1", "scale", string(FuzzUID)
	if errs := v.Create(created); len(errs) > 0 {
		b.Fatalf("create: %v", errs.ToAggregate())
	}
	running := runtime.DeepCopyJSON(created)
	running["status"] = requestBody(b, benchRunningStatus)
	if errs := v.Update(runtime.DeepCopyJSON(running), created); len(errs) > 0 {
		b.Fatalf("status update: %v", errs.ToAggregate())
	}

	for _, tc := range []struct {
		name     string
		obj, old map[string]any
	}{
		{"create", created, nil},
		{"status-update", running, created},
	} {
		b.Run(tc.name+"/schema", func(b *testing.B) {
			for b.Loop() {
				if errs := schemaOnly(v).validate(tc.obj, tc.old); len(errs) > 0 {
					b.Fatal(errs.ToAggregate())
				}
			}
		})
		b.Run(tc.name+"/schema+cel", func(b *testing.B) {
			for b.Loop() {
				if errs := v.validate(tc.obj, tc.old); len(errs) > 0 {
					b.Fatal(errs.ToAggregate())
				}
			}
		})
		b.Run(tc.name+"/cel-ratcheting", func(b *testing.B) {
			// The CEL pass alone as the API server runs it on an update
			// (with ratcheting's correlated object).
			for b.Loop() {
				var opts []cel.Option
				var oldObj any
				if tc.old != nil {
					oldObj = tc.old
					opts = append(opts, cel.WithRatcheting(common.NewCorrelatedObject(tc.obj, tc.old, &model.Structural{Structural: v.structural})))
				}
				if errs, _ := v.cel.Validate(context.Background(), nil, v.structural, tc.obj, oldObj, celconfig.RuntimeCELCostBudget, opts...); len(errs) > 0 {
					b.Fatal(errs.ToAggregate())
				}
			}
		})
	}
}

// schemaOnly is v without its CEL rules.
func schemaOnly(v *Validator) *Validator {
	c := *v
	c.cel = nil
	return &c
}
