package main

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ablationNoVMIRules names the -without-vmi-rules experiment in a result.
const ablationNoVMIRules = "without-vmi-rules"

// dropVMIRules removes every CEL rule (x-kubernetes-validations) from the
// VirtualMachineInstance CRD of the run's cluster: the experiment that
// measures what VMI admission costs the API server, by running the same
// phases without it. Never a product figure: the result says so.
func (b *bench) dropVMIRules(ctx context.Context) error {
	crd := &unstructured.Unstructured{}
	crd.SetGroupVersionKind(schema.GroupVersionKind{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"})
	if err := b.c.Get(ctx, client.ObjectKey{Name: "virtualmachineinstances.virt.virtmesh.io"}, crd); err != nil {
		return err
	}
	removed := 0
	var strip func(any)
	strip = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if rules, ok := v["x-kubernetes-validations"].([]any); ok {
				removed += len(rules)
				delete(v, "x-kubernetes-validations")
			}
			for _, c := range v {
				strip(c)
			}
		case []any:
			for _, c := range v {
				strip(c)
			}
		}
	}
	versions, _, err := unstructured.NestedSlice(crd.Object, "spec", "versions")
	if err != nil {
		return err
	}
	strip(versions)
	if err := unstructured.SetNestedSlice(crd.Object, versions, "spec", "versions"); err != nil {
		return err
	}
	if err := b.c.Update(ctx, crd); err != nil {
		return err
	}
	logf("ablation: removed %d CEL rules from the VirtualMachineInstance CRD (this run measures admission's cost; its figures are not VirtMesh's)", removed)
	// The API server serves the new schema once it has rebuilt the CRD's
	// handler; a rejected probe would show the old rules still apply.
	probe := newVMI("default", 0)
	probe.SetName("ablation-probe-" + fmt.Sprint(time.Now().UnixNano()))
	probe.Spec.Networks[0].Name = "unpaired" // the interface/network pairing rule rejects this while it applies
	return poll(ctx, 30*time.Second, "the CRD without rules", func() error {
		return b.c.Create(ctx, probe.DeepCopy(), client.DryRunAll)
	})
}
