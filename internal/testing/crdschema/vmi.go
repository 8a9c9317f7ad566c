package crdschema

import (
	"path/filepath"
	goruntime "runtime"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// FuzzUID is the UID AdmitVMI gives every admitted VMI: the API server
// assigns one, the user never chooses it.
const FuzzUID types.UID = "6f1c3a52-0d2e-4b8e-9a51-3c1b2f7d9e10"

// CRDPath is the path of a CRD manifest under config/crd/bases, found from
// this file's location so it works from any package directory.
func CRDPath(file string) string {
	_, self, _, ok := goruntime.Caller(0)
	if !ok {
		panic("crdschema: cannot find own source file")
	}
	return filepath.Join(filepath.Dir(self), "..", "..", "..", "config", "crd", "bases", file)
}

var vmis = sync.OnceValues(func() (*Validator, error) {
	return Load(CRDPath("virt.virtmesh.io_virtualmachineinstances.yaml"))
})

// VMIs is the VirtualMachineInstance CRD's validator, loaded once.
func VMIs() *Validator {
	v, err := vmis()
	if err != nil {
		panic(err)
	}
	return v
}

// AdmitVMI decodes data (JSON, as a create request's body) and returns the
// VirtualMachineInstance the API server would store, or false when it would
// reject it. apiVersion and kind may be left out (they are filled in) and
// the namespace defaults to "default", as from the request path; the UID is
// FuzzUID.
func AdmitVMI(data []byte) (*virtv1alpha1.VirtualMachineInstance, bool) {
	obj, err := DecodeJSON(data)
	if err != nil {
		return nil, false
	}
	v := VMIs()
	if _, ok := obj["apiVersion"]; !ok {
		obj["apiVersion"] = v.APIVersion
	}
	if _, ok := obj["kind"]; !ok {
		obj["kind"] = v.Kind
	}
	if m, ok := obj["metadata"].(map[string]any); ok {
		if _, ok := m["namespace"]; !ok {
			m["namespace"] = "default"
		}
	}
	if errs := v.Create(obj); len(errs) > 0 {
		return nil, false
	}
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	if err := Into(obj, vmi); err != nil {
		return nil, false
	}
	vmi.UID = FuzzUID
	return vmi, true
}
