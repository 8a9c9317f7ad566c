package crdschema

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"virtmesh.io/virtmesh/internal/testing/badmanifest"
)

func repoPath(parts ...string) string {
	return filepath.Join(append([]string{filepath.Dir(CRDPath("x")), "..", "..", ".."}, parts...)...)
}

// validators loads every CRD under config/crd/bases (Load fails on a CRD
// the API server would refuse), by kind.
func validators(t *testing.T) map[string]*Validator {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(filepath.Dir(CRDPath("x")), "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Validator{}
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		v, err := Load(f)
		if err != nil {
			t.Fatal(err)
		}
		out[v.Kind] = v
	}
	if len(out) < 3 {
		t.Fatalf("only %d CRDs under %s", len(out), filepath.Dir(CRDPath("x")))
	}
	return out
}

func decodeYAML(t *testing.T, doc string) map[string]any {
	t.Helper()
	obj := requestBody(t, doc)
	if m, ok := obj["metadata"].(map[string]any); ok && m["namespace"] == nil {
		m["namespace"] = "bad"
	}
	return obj
}

// TestRejectsBadManifests holds the in-process admission to what the API
// server does with the same files (test/validation runs them against a real
// kube-apiserver): every bad manifest is rejected with its "# want:" text.
func TestRejectsBadManifests(t *testing.T) {
	vs := validators(t)
	cases, err := badmanifest.Load(repoPath("test", "validation", "bad"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 30 {
		t.Fatalf("found only %d bad manifests", len(cases))
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			var objs []map[string]any
			for _, d := range c.Docs {
				objs = append(objs, decodeYAML(t, d))
			}
			v := vs[objs[0]["kind"].(string)]
			if v == nil {
				t.Fatalf("no CRD for kind %v", objs[0]["kind"])
			}
			errs := v.Create(objs[0])
			if len(objs) == 2 {
				if len(errs) > 0 {
					t.Fatalf("the first object of an update case must be accepted: %v", errs.ToAggregate())
				}
				errs = v.Update(objs[1], objs[0])
			}
			if len(errs) == 0 {
				t.Fatalf("accepted, want a rejection containing %q", c.Wants)
			}
			if got := errs.ToAggregate().Error(); len(c.Missing(got)) > 0 {
				t.Fatalf("rejected with\n  %s\nwant the message to contain\n  %q", got, c.Missing(got))
			}
		})
	}
}

// TestAcceptsSamples: the shipped samples are admitted (and stay as they are
// but for the schema's defaults).
func TestAcceptsSamples(t *testing.T) {
	vs := validators(t)
	files, err := filepath.Glob(repoPath("config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range strings.Split(string(b), "\n---") {
			if !strings.Contains(doc, "kind:") {
				continue
			}
			obj := decodeYAML(t, doc)
			kind, _ := obj["kind"].(string)
			v := vs[kind]
			if v == nil {
				continue
			}
			n++
			if errs := v.Create(obj); len(errs) > 0 {
				t.Errorf("%s: %s rejected: %v", filepath.Base(f), obj["kind"], errs.ToAggregate())
			}
		}
	}
	if n == 0 {
		t.Fatal("no VirtMesh object in the samples")
	}
}

func TestAdmitVMI(t *testing.T) {
	ok := `{"metadata":{"name":"vm"},"spec":{"domain":{"resources":{"requests":{"memory":"128Mi"}},"devices":{"disks":[{"name":"root"}],"interfaces":[{"name":"default","masquerade":{}}]}},
		"networks":[{"name":"default","pod":{}}],"volumes":[{"name":"root","containerDisk":{"image":"example.com/vm:1"}}]}}`
	vmi, admitted := AdmitVMI([]byte(ok))
	if !admitted || vmi.Name != "vm" || vmi.Namespace != "default" || vmi.UID != FuzzUID || vmi.Spec.Volumes[0].ContainerDisk.Image != "example.com/vm:1" {
		t.Fatalf("AdmitVMI(valid) = %+v, %v", vmi, admitted)
	}
	for name, doc := range map[string]string{
		"not JSON":        `{`,
		"not an object":   `[1]`,
		"unknown field":   strings.Replace(ok, `"name":"vm"`, `"name":"vm","bogus":1`, 1),
		"unknown in spec": strings.Replace(ok, `"domain":{`, `"domain":{"bogusField":{},`, 1),
		"bad name":        strings.Replace(ok, `"name":"vm"`, `"name":"VM_1"`, 1),
		"bad label":       strings.Replace(ok, `"name":"vm"`, `"name":"vm","labels":{"a b":"c"}`, 1),
		"CEL":             strings.Replace(ok, `"pod":{}`, `"pod":{"vmNetworkCIDR":"10.0.2.1/24"}`, 1),
		"wrong kind":      `{"kind":"Pod",` + ok[1:],
	} {
		if _, admitted := AdmitVMI([]byte(doc)); admitted {
			t.Errorf("%s: admitted", name)
		}
	}
}

// requestBody decodes a YAML document as the API server decodes a request's
// JSON body.
func requestBody(tb testing.TB, doc string) map[string]any {
	tb.Helper()
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		tb.Fatal(err)
	}
	obj, err := DecodeJSON(j)
	if err != nil {
		tb.Fatal(err)
	}
	return obj
}
