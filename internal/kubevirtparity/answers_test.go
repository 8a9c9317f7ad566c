package kubevirtparity

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"virtmesh.io/virtmesh/internal/testing/golden"
)

// covering returns the entry for path, or the Ignored/Rejected entry of an
// ancestor that covers it.
func covering(index map[string]Entry, path string) (Entry, bool) {
	if e, ok := index[path]; ok {
		return e, true
	}
	for p := path; strings.Contains(p, "."); {
		p = p[:strings.LastIndex(p, ".")]
		if e, ok := index[p]; ok && e.Answer != Implemented {
			return e, true
		}
	}
	return Entry{}, false
}

func index(t *testing.T) map[string]Entry {
	t.Helper()
	idx := map[string]Entry{}
	for _, e := range VMISpec {
		if _, dup := idx[e.Path]; dup {
			t.Errorf("%s is answered twice", e.Path)
		}
		idx[e.Path] = e
	}
	return idx
}

// TestEveryKubeVirtFieldHasAnAnswer fails when kubevirt.io/api has a field
// VirtMesh has not decided about: a KubeVirt bump that adds one turns CI red.
func TestEveryKubeVirtFieldHasAnAnswer(t *testing.T) {
	idx := index(t)
	fields := Walk(reflect.TypeOf(kubevirtv1.VirtualMachineInstanceSpec{}))
	known := map[string]bool{}
	for _, f := range fields {
		known[f.Path] = true
		e, ok := covering(idx, f.Path)
		if !ok {
			t.Errorf("KubeVirt field spec.%s (%s) has no answer in VMISpec: implement, ignore or reject it", f.Path, f.Type)
			continue
		}
		if e.Path == f.Path && e.Answer == Implemented && !f.Leaf {
			continue // its children need answers of their own
		}
	}
	for _, e := range VMISpec {
		if !known[e.Path] {
			t.Errorf("VMISpec answers %s, which kubevirt.io/api's VirtualMachineInstanceSpec does not have", e.Path)
		}
	}
}

// TestEntriesBelowACoveringAnswerAreRedundant keeps the table tight: a row
// under a rejected or ignored field says nothing new.
func TestEntriesBelowACoveringAnswerAreRedundant(t *testing.T) {
	idx := index(t)
	for _, e := range VMISpec {
		for p := e.Path; strings.Contains(p, "."); {
			p = p[:strings.LastIndex(p, ".")]
			if a, ok := idx[p]; ok && a.Answer != Implemented {
				t.Errorf("%s is below %s, which is %s: drop the row", e.Path, p, a.Answer)
			}
		}
	}
}

// TestAnswersMatchTheCRD checks every answered path exists in VirtMesh's CRD
// schema: implemented and ignored fields so they are accepted, rejected ones
// so the rejection is VirtMesh's message, never a bare "unknown field".
func TestAnswersMatchTheCRD(t *testing.T) {
	spec := crdSpecSchema(t)
	for _, e := range VMISpec {
		if lookup(spec, e.Path) == nil {
			t.Errorf("%s (%s) is not in the VirtualMachineInstance CRD's schema", e.Path, e.Answer)
		}
	}
}

func TestParityDoc(t *testing.T) {
	golden.Assert(t, filepath.Join("..", "..", "docs", "kubevirt-parity.md"), []byte(Markdown(kubevirtAPIVersion(t))))
}

// kubevirtAPIVersion is kubevirt.io/api's version in the project's go.mod.
func kubevirtAPIVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "kubevirt.io/api" {
			return f[1]
		}
	}
	t.Fatal("kubevirt.io/api is not in go.mod")
	return ""
}

// schema is the part of an OpenAPI v3 schema the lookup needs.
type schema struct {
	Properties map[string]*schema `json:"properties"`
	Items      *schema            `json:"items"`
}

func crdSpecSchema(t *testing.T) *schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", "virt.virtmesh.io_virtualmachineinstances.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema schema `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		t.Fatal(err)
	}
	return crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
}

// lookup follows a Walk path through the schema.
func lookup(s *schema, path string) *schema {
	for _, part := range strings.Split(path, ".") {
		list := strings.HasSuffix(part, "[]")
		part = strings.TrimSuffix(part, "[]")
		if s == nil || s.Properties == nil {
			return nil
		}
		s = s.Properties[part]
		if s != nil && (list || s.Items != nil) && s.Items != nil {
			s = s.Items
		}
	}
	return s
}
