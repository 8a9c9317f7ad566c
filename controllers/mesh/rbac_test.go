package mesh

import (
	"os"
	"regexp"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

// TestOperatorHoldsWhatItGrants: Kubernetes only lets the operator create a
// (Cluster)Role granting permissions it holds itself. Check the kubebuilder
// RBAC markers (from which config/rbac is generated) cover every rule the
// renderers grant.
func TestOperatorHoldsWhatItGrants(t *testing.T) {
	src, err := os.ReadFile("meshcontrolplane_controller.go")
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{} // group/resource/verb
	re := regexp.MustCompile(`(?m)^// \+kubebuilder:rbac:groups=([^,]*),resources=([^,]*),verbs=(\S*)$`)
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		for _, g := range strings.Split(strings.Trim(m[1], `"`), ";") {
			for _, r := range strings.Split(m[2], ";") {
				for _, v := range strings.Split(m[3], ";") {
					held[g+"/"+r+"/"+v] = true
				}
			}
		}
	}
	if len(held) == 0 {
		t.Fatal("no RBAC markers found")
	}
	var granted []rbacv1.PolicyRule
	granted = append(granted, cp.IstiodClusterRules()...)
	granted = append(granted, cp.IstiodGatewayControllerRules()...)
	granted = append(granted, cp.IstiodNamespaceRules()...)
	granted = append(granted, cp.AddonClusterRules()...)
	v, _ := cp.Resolve(mcpForRBAC(), testImages)
	objs, err := cp.Render(v)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		switch r := o.(type) {
		case *rbacv1.Role:
			granted = append(granted, r.Rules...)
		case *rbacv1.ClusterRole:
			granted = append(granted, r.Rules...)
		}
	}
	// A granted wildcard (Istio's chart grants resources "*" in its groups
	// and verbs "*" on ingresses/status) is covered only by the same
	// wildcard; a granted name also by a wildcard the operator holds.
	covered := func(g, r, verb string) bool {
		return held[g+"/"+r+"/"+verb] || held[g+"/*/"+verb] || held[g+"/"+r+"/*"] || held[g+"/*/*"]
	}
	for _, rule := range granted {
		for _, g := range rule.APIGroups {
			if g == "*" {
				t.Errorf("granted rule %+v names every API group; Istio's chart never does", rule)
			}
			for _, r := range rule.Resources {
				for _, verb := range rule.Verbs {
					if !covered(g, r, verb) {
						t.Errorf("operator grants %q %s %s but holds no such RBAC marker", g, r, verb)
					}
				}
			}
		}
	}
}

// TestRBACMarkerParsing guards the check above: every marker is one it parses.
func TestRBACMarkerParsing(t *testing.T) {
	src, err := os.ReadFile("meshcontrolplane_controller.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^// \+kubebuilder:rbac:groups=([^,]*),resources=([^,]*),verbs=(\S*)$`)
	if n, total := len(re.FindAllString(string(src), -1)), strings.Count(string(src), "+kubebuilder:rbac:"); n != total {
		t.Errorf("%d of %d RBAC markers parse; the check above would miss the others", n, total)
	}
}

func mcpForRBAC() *meshv1alpha1.MeshControlPlane {
	return mcpbuilder.Make("rbac", "ns").Ingress().Addons("prometheus", "kiali", "tracing").Obj()
}
