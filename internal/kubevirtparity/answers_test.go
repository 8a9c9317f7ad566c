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

// table is one KubeVirt spec type and VirtMesh's answers for it.
type table struct {
	name     string
	kubevirt reflect.Type
	entries  []Entry
	crd      string
	// nested is a path below which another table answers.
	nested string
}

var tables = []table{
	{"VMISpec", reflect.TypeOf(kubevirtv1.VirtualMachineInstanceSpec{}), VMISpec, "virt.virtmesh.io_virtualmachineinstances.yaml", ""},
	{"VMSpec", reflect.TypeOf(kubevirtv1.VirtualMachineSpec{}), VMSpec, "virt.virtmesh.io_virtualmachines.yaml", "template.spec."},
}

func index(t *testing.T, entries []Entry) map[string]Entry {
	t.Helper()
	idx := map[string]Entry{}
	for _, e := range entries {
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
	for _, tb := range tables {
		t.Run(tb.name, func(t *testing.T) {
			idx := index(t, tb.entries)
			known := map[string]bool{}
			for _, f := range Walk(tb.kubevirt) {
				if tb.nested != "" && strings.HasPrefix(f.Path, tb.nested) {
					continue
				}
				known[f.Path] = true
				if _, ok := covering(idx, f.Path); !ok {
					t.Errorf("KubeVirt field spec.%s (%s) has no answer in %s: implement, ignore or reject it", f.Path, f.Type, tb.name)
				}
			}
			for _, e := range tb.entries {
				if !known[e.Path] {
					t.Errorf("%s answers %s, which kubevirt.io/api's %s does not have", tb.name, e.Path, tb.kubevirt.Name())
				}
			}
		})
	}
}

// TestEntriesBelowACoveringAnswerAreRedundant keeps the table tight: a row
// under a rejected or ignored field says nothing new.
func TestEntriesBelowACoveringAnswerAreRedundant(t *testing.T) {
	for _, tb := range tables {
		idx := index(t, tb.entries)
		for _, e := range tb.entries {
			for p := e.Path; strings.Contains(p, "."); {
				p = p[:strings.LastIndex(p, ".")]
				if a, ok := idx[p]; ok && a.Answer != Implemented {
					t.Errorf("%s: %s is below %s, which is %s: drop the row", tb.name, e.Path, p, a.Answer)
				}
			}
		}
	}
}

// TestAnswersMatchTheCRD checks every answered path exists in VirtMesh's CRD
// schema: implemented and ignored fields so they are accepted, rejected ones
// so the rejection is VirtMesh's message, never a bare "unknown field".
func TestAnswersMatchTheCRD(t *testing.T) {
	for _, tb := range tables {
		spec := crdSpecSchema(t, tb.crd)
		for _, e := range tb.entries {
			if lookup(spec, e.Path) == nil {
				t.Errorf("%s (%s) is not in %s's schema", e.Path, e.Answer, tb.crd)
			}
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

func crdSpecSchema(t *testing.T, crd string) *schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "config", "crd", "bases", crd))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema schema `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["spec"]
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
