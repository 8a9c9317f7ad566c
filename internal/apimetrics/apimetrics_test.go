package apimetrics

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		method, path, watch string
		want                Info
	}{
		{"GET", "/api/v1/namespaces/ns/pods/p", "", Info{"get", "", "pods", ""}},
		{"GET", "/api/v1/namespaces/ns/pods", "", Info{"list", "", "pods", ""}},
		{"GET", "/api/v1/pods", "true", Info{"watch", "", "pods", ""}},
		{"POST", "/api/v1/namespaces/ns/pods", "", Info{"create", "", "pods", ""}},
		{"POST", "/api/v1/namespaces/ns/pods/p/binding", "", Info{"create", "", "pods", "binding"}},
		{"PATCH", "/apis/virt.virtmesh.io/v1alpha1/namespaces/ns/virtualmachineinstances/v/status", "", Info{"patch", "virt.virtmesh.io", "virtualmachineinstances", "status"}},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/l", "", Info{"update", "coordination.k8s.io", "leases", ""}},
		{"DELETE", "/api/v1/namespaces/ns/pods/p", "", Info{"delete", "", "pods", ""}},
		{"DELETE", "/api/v1/namespaces/ns/pods", "", Info{"deletecollection", "", "pods", ""}},
		{"GET", "/api/v1/namespaces/ns", "", Info{"get", "", "namespaces", ""}},
		{"GET", "/api/v1/namespaces", "", Info{"list", "", "namespaces", ""}},
		{"PUT", "/api/v1/namespaces/ns/finalize", "", Info{"update", "", "namespaces", "finalize"}},
		{"GET", "/api/v1/nodes/n", "", Info{"get", "", "nodes", ""}},
		{"GET", "/apis/mesh.virtmesh.io/v1alpha1/meshcontrolplanes", "1", Info{"watch", "mesh.virtmesh.io", "meshcontrolplanes", ""}},
		{"POST", "/apis/events.k8s.io/v1/namespaces/ns/events", "", Info{"create", "events.k8s.io", "events", ""}},
		{"GET", "/apis", "", Info{Verb: "get"}},
		{"GET", "/version", "", Info{Verb: "get"}},
	} {
		if got := Parse(tc.method, tc.path, tc.watch); got != tc.want {
			t.Errorf("Parse(%s %s watch=%q): %s", tc.method, tc.path, tc.watch, cmp.Diff(tc.want, got))
		}
	}
}

func TestIsWrite(t *testing.T) {
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if v := Parse(m, "/api/v1/namespaces/ns/pods/p", "").Verb; !IsWrite(v) {
			t.Errorf("%s -> %s is not a write", m, v)
		}
	}
	for _, v := range []string{"get", "list", "watch"} {
		if IsWrite(v) {
			t.Errorf("%s is a write", v)
		}
	}
}
