// Package bundle checks the committed OLM bundle: it is what `make bundle`
// generates from config/ today, OLM's validators accept it, and its
// annotations, Dockerfile labels, relatedImages and RBAC are consistent.
package bundle

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/operator-framework/api/pkg/manifests"
	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	"github.com/operator-framework/api/pkg/validation"
	"github.com/operator-framework/api/pkg/validation/errors"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"virtmesh.io/virtmesh/hack/bundle/bundlegen"
)

// KubeVersion is the Kubernetes version the deprecated-API checks run for:
// the newest one VirtMesh is tested against (envtest's kube-apiserver).
const KubeVersion = "1.37.0"

// allowedWarnings are validator warnings we accept, each with its reason. A
// warning not matched here fails the test; an entry that matches nothing
// fails too, so the list does not outlive the warning.
//
// It is empty: the bundle passes every validator with zero warnings.
var allowedWarnings = []struct {
	contains string
	reason   string
}{}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func TestBundleValidates(t *testing.T) {
	root := repoRoot(t)
	b, err := manifests.GetBundleFromDir(filepath.Join(root, "bundle"))
	if err != nil {
		t.Fatalf("load bundle: %v", err)
	}
	if b.Package != "virtmesh-operator" {
		t.Errorf("package %q, want virtmesh-operator", b.Package)
	}
	// VirtMesh's three and Istio's (config/crd/istio).
	istioCRDs, err := filepath.Glob(filepath.Join(root, "config", "crd", "istio", "*.istio.io_*.yaml"))
	if err != nil || len(istioCRDs) == 0 {
		t.Fatalf("no Istio CRDs in config/crd/istio (%v)", err)
	}
	if got, want := len(b.V1CRDs), 3+len(istioCRDs); got != want {
		t.Errorf("bundle has %d v1 CRDs, want %d (3 of VirtMesh, %d of Istio)", got, want, len(istioCRDs))
	}
	vals := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator,
		validation.StandardCapabilitiesValidator,
		validation.StandardCategoriesValidator,
		validation.GoodPracticesValidator,
		validation.AlphaDeprecatedAPIsValidator,
		validation.ObjectValidator,
	)
	objs := b.ObjectsToValidate()
	objs = append(objs, map[string]string{"k8s-version": KubeVersion})
	used := make([]bool, len(allowedWarnings))
	for _, res := range vals.Validate(objs...) {
		for _, e := range res.Errors {
			t.Errorf("validator error (%s): %s", res.Name, e.Error())
		}
		for _, w := range res.Warnings {
			t.Logf("validator warning (%s): %s", res.Name, w.Error())
			if !allowed(w, used) {
				t.Errorf("unexpected validator warning (%s): %s — fix it or add it to allowedWarnings with a reason", res.Name, w.Error())
			}
		}
	}
	for i, u := range used {
		if !u {
			t.Errorf("allowedWarnings entry %q matched no warning; remove it", allowedWarnings[i].contains)
		}
	}
}

func allowed(w errors.Error, used []bool) bool {
	for i, a := range allowedWarnings {
		if strings.Contains(w.Error(), a.contains) {
			used[i] = true
			return true
		}
	}
	return false
}

// TestBundleUpToDate regenerates the bundle into a temp dir and compares it
// byte for byte with the committed one, so a stale bundle fails `go test`
// even without `make verify`.
func TestBundleUpToDate(t *testing.T) {
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "bin", "kustomize")); err != nil {
		t.Fatalf("bin/kustomize is missing; run `make bins` (hack/build-bins.sh kustomize): %v", err)
	}
	// Regenerate for the committed version (make bundle VERSION=...).
	o := bundlegen.Defaults(root, loadCSV(t).Spec.Version.String())
	files, err := bundlegen.Generate(o)
	if err != nil {
		t.Fatalf("generate: %v", err)
	}
	tmp := t.TempDir()
	if err := bundlegen.Write(tmp, files); err != nil {
		t.Fatal(err)
	}
	want := listFiles(t, tmp)
	got := listFiles(t, root)
	if strings.Join(want, "\n") != strings.Join(got, "\n") {
		t.Errorf("committed bundle files differ from generated ones; run `make bundle`\ncommitted: %v\ngenerated: %v", got, want)
	}
	for _, p := range want {
		gen, _ := os.ReadFile(filepath.Join(tmp, p))
		committed, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		if !bytes.Equal(gen, committed) {
			t.Errorf("%s is stale; run `make bundle` and commit it", p)
		}
	}
}

func listFiles(t *testing.T, dir string) []string {
	t.Helper()
	out := []string{bundlegen.DockerfileFile}
	for _, sub := range []string{bundlegen.ManifestsDir, bundlegen.MetadataDir} {
		entries, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatalf("read %s: %v", sub, err)
		}
		for _, e := range entries {
			out = append(out, filepath.Join(sub, e.Name()))
		}
	}
	sort.Strings(out)
	return out
}

// TestDockerfileLabelsMatchAnnotations: bundle.Dockerfile's LABELs equal
// bundle/metadata/annotations.yaml.
func TestDockerfileLabelsMatchAnnotations(t *testing.T) {
	root := repoRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, bundlegen.AnnotationsFile))
	if err != nil {
		t.Fatal(err)
	}
	var ann struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := yaml.UnmarshalStrict(raw, &ann); err != nil {
		t.Fatal(err)
	}
	df, err := os.Open(filepath.Join(root, bundlegen.DockerfileFile))
	if err != nil {
		t.Fatal(err)
	}
	defer df.Close()
	labels := map[string]string{}
	var copies []string
	sc := bufio.NewScanner(df)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "LABEL "):
			k, v, ok := strings.Cut(strings.TrimPrefix(line, "LABEL "), "=")
			if !ok {
				t.Fatalf("LABEL without =: %q", line)
			}
			if _, dup := labels[k]; dup {
				t.Errorf("LABEL %s twice", k)
			}
			labels[k] = v
		case strings.HasPrefix(line, "COPY "):
			copies = append(copies, line)
		}
	}
	if len(labels) != len(ann.Annotations) {
		t.Errorf("Dockerfile has %d LABELs, annotations.yaml %d", len(labels), len(ann.Annotations))
	}
	for k, v := range ann.Annotations {
		if labels[k] != v {
			t.Errorf("LABEL %s=%q, annotations.yaml says %q", k, labels[k], v)
		}
	}
	want := map[string]string{
		"operators.operatorframework.io.bundle.mediatype.v1":       "registry+v1",
		"operators.operatorframework.io.bundle.manifests.v1":       "manifests/",
		"operators.operatorframework.io.bundle.metadata.v1":        "metadata/",
		"operators.operatorframework.io.bundle.package.v1":         "virtmesh-operator",
		"operators.operatorframework.io.bundle.channels.v1":        "candidate",
		"operators.operatorframework.io.bundle.channel.default.v1": "candidate",
	}
	for k, v := range want {
		if ann.Annotations[k] != v {
			t.Errorf("annotation %s=%q, want %q", k, ann.Annotations[k], v)
		}
	}
	wantCopies := []string{"COPY bundle/manifests /manifests/", "COPY bundle/metadata /metadata/"}
	if strings.Join(copies, "\n") != strings.Join(wantCopies, "\n") {
		t.Errorf("COPY lines %q, want %q", copies, wantCopies)
	}
}

func loadCSV(t *testing.T) *operatorsv1alpha1.ClusterServiceVersion {
	t.Helper()
	b, err := manifests.GetBundleFromDir(filepath.Join(repoRoot(t), "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	return b.CSV
}

// TestCSVContents checks what OperatorHub expects beyond the validators.
func TestCSVContents(t *testing.T) {
	csv := loadCSV(t)
	if v := csv.Spec.Version.String(); csv.Name != "virtmesh-operator.v"+v {
		t.Errorf("name %s, version %s: want virtmesh-operator.v%s", csv.Name, v, v)
	}
	for _, k := range []string{"alm-examples", "capabilities", "categories", "containerImage", "createdAt", "repository", "description"} {
		if csv.Annotations[k] == "" {
			t.Errorf("annotation %s is empty", k)
		}
	}
	if csv.Annotations["categories"] != "Networking" {
		t.Errorf("categories %q", csv.Annotations["categories"])
	}
	modes := map[operatorsv1alpha1.InstallModeType]bool{}
	for _, m := range csv.Spec.InstallModes {
		modes[m.Type] = m.Supported
	}
	if len(modes) != 4 || !modes[operatorsv1alpha1.InstallModeTypeAllNamespaces] {
		t.Errorf("installModes %v: want all four listed, AllNamespaces supported", csv.Spec.InstallModes)
	}
	if len(csv.Spec.Icon) != 1 || csv.Spec.Icon[0].MediaType != "image/svg+xml" {
		t.Errorf("icon: want one image/svg+xml")
	}
	if !strings.Contains(csv.Spec.Description, "Bookinfo") {
		t.Errorf("description lacks the Bookinfo example")
	}

	// Owned CRDs: descriptors, conditions descriptor on status. Istio's
	// CRDs are Istio's: a name and a description, no descriptors (their
	// status is schemaless, preserve-unknown-fields).
	for _, d := range csv.Spec.CustomResourceDefinitions.Owned {
		if strings.HasSuffix(d.Name, ".istio.io") {
			if d.DisplayName == "" || d.Description == "" {
				t.Errorf("owned %s: displayName and description are required", d.Name)
			}
			continue
		}
		if d.DisplayName == "" || d.Description == "" || len(d.SpecDescriptors) == 0 {
			t.Errorf("owned %s: displayName, description and specDescriptors are required", d.Name)
		}
		hasConditions := false
		for _, s := range d.StatusDescriptors {
			for _, x := range s.XDescriptors {
				if s.Path == "conditions" && x == "urn:alm:descriptor:io.kubernetes.conditions" {
					hasConditions = true
				}
			}
		}
		if !hasConditions {
			t.Errorf("owned %s: no conditions statusDescriptor", d.Name)
		}
	}

	// Deployment: requests, restricted security context; relatedImages equal
	// the RELATED_IMAGE_* env of the manager plus the manager image.
	deps := csv.Spec.InstallStrategy.StrategySpec.DeploymentSpecs
	if len(deps) != 1 {
		t.Fatalf("%d deployments, want 1", len(deps))
	}
	pod := deps[0].Spec.Template.Spec
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot ||
		pod.SecurityContext.SeccompProfile == nil || pod.SecurityContext.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod securityContext is not restricted: %+v", pod.SecurityContext)
	}
	wantRelated := map[string]string{}
	for _, c := range pod.Containers {
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
			t.Errorf("container %s: no cpu/memory requests", c.Name)
		}
		sc := c.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
			sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			t.Errorf("container %s: securityContext is not restricted", c.Name)
		}
		if c.Name == bundlegen.ManagerContainer {
			wantRelated[c.Image] = "virtmesh-operator"
			if csv.Annotations["containerImage"] != c.Image {
				t.Errorf("containerImage %q, manager image %q", csv.Annotations["containerImage"], c.Image)
			}
		}
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, bundlegen.RelatedImageEnvPrefix) {
				wantRelated[e.Value] = e.Name
			}
		}
	}
	if len(wantRelated) < 8 {
		t.Errorf("want the operator image and 7 operand images (launcher, proxy, istiod, 4 addons), got %v", wantRelated)
	}
	gotRelated := map[string]bool{}
	for _, r := range csv.Spec.RelatedImages {
		gotRelated[r.Image] = true
		if _, ok := wantRelated[r.Image]; !ok {
			t.Errorf("relatedImage %s (%s) is not in the manager's env", r.Name, r.Image)
		}
	}
	for img, from := range wantRelated {
		if !gotRelated[img] {
			t.Errorf("%s=%s is missing from relatedImages", from, img)
		}
	}
}

// chartWildcards are the only wildcard rules the operator may hold: it grants
// them to istiod because Istio's chart does (read every kind of Istio's and
// the Gateway API's groups, as their CRDs get installed; every verb on
// ingresses/status), and Kubernetes lets it grant only what it holds.
var chartWildcards = []struct {
	groups    map[string]bool
	resources []string
	verbs     map[string]bool
}{
	{
		groups: map[string]bool{"config.istio.io": true, "security.istio.io": true, "networking.istio.io": true, "authentication.istio.io": true,
			"rbac.istio.io": true, "telemetry.istio.io": true, "extensions.istio.io": true, "gateway.networking.k8s.io": true, "gateway.networking.x-k8s.io": true},
		resources: []string{"*"},
		verbs:     map[string]bool{"get": true, "list": true, "watch": true},
	},
	{groups: map[string]bool{"networking.k8s.io": true}, resources: []string{"ingresses/status"}, verbs: map[string]bool{"*": true}},
}

func isChartWildcard(r rbacv1.PolicyRule) bool {
	for _, w := range chartWildcards {
		ok := strings.Join(r.Resources, ",") == strings.Join(w.resources, ",") && len(r.ResourceNames) == 0
		for _, g := range r.APIGroups {
			ok = ok && w.groups[g]
		}
		for _, v := range r.Verbs {
			ok = ok && w.verbs[v]
		}
		if ok {
			return true
		}
	}
	return false
}

// TestLeastPrivilege: no wildcards but Istio's chart's (chartWildcards) and
// no writes to CRDs (OLM installs the CRDs; an operator that creates CRDs is
// a meta-operator OLM warns about).
func TestLeastPrivilege(t *testing.T) {
	csv := loadCSV(t)
	spec := csv.Spec.InstallStrategy.StrategySpec
	all := append(append([]operatorsv1alpha1.StrategyDeploymentPermissions{}, spec.Permissions...), spec.ClusterPermissions...)
	if len(spec.ClusterPermissions) == 0 {
		t.Errorf("no clusterPermissions: the manager-role rules did not make it into the CSV")
	}
	for _, p := range all {
		for _, r := range p.Rules {
			for _, s := range append(append(append([]string{}, r.APIGroups...), r.Resources...), r.Verbs...) {
				if s == "*" && !isChartWildcard(r) {
					t.Errorf("%s: wildcard in rule %+v (only Istio's chart's are allowed: chartWildcards)", p.ServiceAccountName, r)
				}
			}
			for _, g := range r.APIGroups {
				if g == "apiextensions.k8s.io" {
					for _, v := range r.Verbs {
						if v != "get" && v != "list" && v != "watch" {
							t.Errorf("%s: %s on %s %v: the operator must not write these", p.ServiceAccountName, v, g, r.Resources)
						}
					}
				}
			}
		}
	}
}

// TestValidatorsCatchBrokenCSV guards the validation test itself: a copy of
// the bundle with a non-standard category and no minKubeVersion must fail.
func TestValidatorsCatchBrokenCSV(t *testing.T) {
	root := repoRoot(t)
	tmp := t.TempDir()
	for _, sub := range []string{bundlegen.ManifestsDir, bundlegen.MetadataDir} {
		entries, err := os.ReadDir(filepath.Join(root, sub))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(tmp, sub), 0o755); err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			b, err := os.ReadFile(filepath.Join(root, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(e.Name(), ".clusterserviceversion.yaml") {
				b = bytes.Replace(b, []byte("categories: Networking"), []byte("categories: Nonsense"), 1)
				b = bytes.Replace(b, []byte("minKubeVersion: "), []byte("minKubeVersionX: "), 1)
			}
			if err := os.WriteFile(filepath.Join(tmp, sub, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	b, err := manifests.GetBundleFromDir(filepath.Join(tmp, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	vals := validation.DefaultBundleValidators.WithValidators(
		validation.OperatorHubV2Validator, validation.StandardCategoriesValidator)
	var msgs []string
	for _, res := range vals.Validate(b.ObjectsToValidate()...) {
		for _, e := range res.Errors {
			msgs = append(msgs, e.Error())
		}
		for _, w := range res.Warnings {
			msgs = append(msgs, w.Error())
		}
	}
	all := strings.Join(msgs, "\n")
	for _, want := range []string{"Nonsense", "minKubeVersion"} {
		if !strings.Contains(all, want) {
			t.Errorf("validators did not report %q; got:\n%s", want, all)
		}
	}
}
