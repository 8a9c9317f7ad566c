// Package bundlegen generates the OLM registry+v1 bundle (bundle/manifests,
// bundle/metadata, bundle.Dockerfile) from config/: the kustomize build of
// config/manifests (the hand-written CSV base plus config/default) and the
// samples. The output is deterministic: the same inputs give the same bytes,
// so a stale committed bundle shows up as a diff.
package bundlegen

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	operatorsv1alpha1 "github.com/operator-framework/api/pkg/operators/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// Options of one generation. Paths are relative to Root unless absolute.
type Options struct {
	Root           string   // repository root
	Kustomize      string   // kustomize binary
	ManifestsDir   string   // kustomization with the CSV base and ../default
	IconFile       string   // SVG icon, used when the base CSV has none
	ReleasesFile   string   // version -> createdAt
	Samples        []string // files with one example per owned kind (first wins)
	Version        string   // bundle semver, without a leading v
	CreatedAt      string   // RFC 3339; empty: from ReleasesFile
	Image          string   // operator image override; empty: from the kustomize output
	Package        string
	Channels       []string
	DefaultChannel string
}

// Defaults returns the options `make bundle` uses, for the given version.
func Defaults(root, version string) Options {
	return Options{
		Root:         root,
		Kustomize:    "bin/kustomize",
		ManifestsDir: "config/manifests",
		IconFile:     "config/manifests/bases/virtmesh-icon.svg",
		ReleasesFile: "config/manifests/releases.yaml",
		Samples: []string{
			"config/samples/mesh_v1alpha1_meshcontrolplane.yaml",
			"config/samples/virt_v1alpha1_virtualmachineinstance.yaml",
			"config/samples/virt_v1alpha1_virtualmachine.yaml",
			"config/samples/bookinfo-istio.yaml",
			"config/samples/istio_examples.yaml",
		},
		Version: version,
		Package: "virtmesh-operator",
		// OLM's channel naming convention (candidate, fast, stable): the
		// v1alpha1 APIs are a preview, so they ship in candidate.
		Channels:       []string{"candidate"},
		DefaultChannel: "candidate",
	}
}

// Output paths, relative to the output root.
const (
	ManifestsDir    = "bundle/manifests"
	MetadataDir     = "bundle/metadata"
	AnnotationsFile = "bundle/metadata/annotations.yaml"
	DockerfileFile  = "bundle.Dockerfile"
)

// ManagerContainer is the operator's container in the manager Deployment.
const ManagerContainer = "manager"

// RelatedImageEnvPrefix marks the operand images in the manager's env.
const RelatedImageEnvPrefix = "RELATED_IMAGE_"

// Kinds OLM accepts in a registry+v1 bundle besides the CSV and CRDs.
var allowedExtraKinds = map[string]bool{
	"Service": true, "ConfigMap": true, "Secret": true, "ServiceAccount": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "Role": true, "RoleBinding": true,
	"PrometheusRule": true, "ServiceMonitor": true, "PodDisruptionBudget": true,
	"PriorityClass": true, "VerticalPodAutoscaler": true, "ConsoleYAMLSample": true,
	"ConsoleQuickStart": true, "ConsoleCLIDownload": true, "ConsoleLink": true,
}

func (o Options) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(o.Root, p)
}

// Annotations returns the bundle annotations in file order; the same values
// go into annotations.yaml and the bundle.Dockerfile LABELs.
func (o Options) Annotations() [][2]string {
	return [][2]string{
		{"operators.operatorframework.io.bundle.mediatype.v1", "registry+v1"},
		{"operators.operatorframework.io.bundle.manifests.v1", "manifests/"},
		{"operators.operatorframework.io.bundle.metadata.v1", "metadata/"},
		{"operators.operatorframework.io.bundle.package.v1", o.Package},
		{"operators.operatorframework.io.bundle.channels.v1", strings.Join(o.Channels, ",")},
		{"operators.operatorframework.io.bundle.channel.default.v1", o.DefaultChannel},
	}
}

// Generate returns the bundle files keyed by path relative to the output root.
func Generate(o Options) (map[string][]byte, error) {
	if o.Version == "" || strings.HasPrefix(o.Version, "v") {
		return nil, fmt.Errorf("version %q: want a semver without a leading v, e.g. 0.1.0", o.Version)
	}
	createdAt, err := o.createdAt()
	if err != nil {
		return nil, err
	}
	objs, err := o.kustomizeBuild()
	if err != nil {
		return nil, err
	}

	var (
		csv         *operatorsv1alpha1.ClusterServiceVersion
		crds        []*unstructured.Unstructured
		deployments []*appsv1.Deployment
		roles       = map[string]*unstructured.Unstructured{} // "Kind/name"
		bindings    []*unstructured.Unstructured
		sas         []*unstructured.Unstructured
		extras      []*unstructured.Unstructured
	)
	for _, u := range objs {
		switch u.GetKind() {
		case operatorsv1alpha1.ClusterServiceVersionKind:
			if csv != nil {
				return nil, fmt.Errorf("more than one ClusterServiceVersion in %s", o.ManifestsDir)
			}
			csv = &operatorsv1alpha1.ClusterServiceVersion{}
			if err := convert(u, csv); err != nil {
				return nil, fmt.Errorf("CSV base: %w", err)
			}
		case "CustomResourceDefinition":
			crds = append(crds, u)
		case "Namespace":
			// OLM installs into the namespace the user picks.
		case "Deployment":
			d := &appsv1.Deployment{}
			if err := convert(u, d); err != nil {
				return nil, fmt.Errorf("deployment %s: %w", u.GetName(), err)
			}
			deployments = append(deployments, d)
		case "Role", "ClusterRole":
			roles[u.GetKind()+"/"+u.GetName()] = u
		case "RoleBinding", "ClusterRoleBinding":
			bindings = append(bindings, u)
		case "ServiceAccount":
			sas = append(sas, u)
		default:
			if !allowedExtraKinds[u.GetKind()] {
				return nil, fmt.Errorf("%s %s: kind not supported in a registry+v1 bundle", u.GetKind(), u.GetName())
			}
			extras = append(extras, u)
		}
	}
	if csv == nil {
		return nil, fmt.Errorf("no ClusterServiceVersion base in %s", o.ManifestsDir)
	}
	if len(deployments) == 0 {
		return nil, fmt.Errorf("no Deployment in the kustomize build of %s", o.ManifestsDir)
	}

	files := map[string][]byte{}

	// CRDs, checked against the CSV's owned list both ways.
	owned := map[string]operatorsv1alpha1.CRDDescription{}
	for _, d := range csv.Spec.CustomResourceDefinitions.Owned {
		owned[d.Name] = d
	}
	for _, crd := range crds {
		d, ok := owned[crd.GetName()]
		if !ok {
			return nil, fmt.Errorf("CRD %s is not listed in spec.customresourcedefinitions.owned of the CSV base", crd.GetName())
		}
		if err := checkOwned(crd, d); err != nil {
			return nil, err
		}
		delete(owned, crd.GetName())
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		crd.SetNamespace("")
		b, err := marshal(crd.Object)
		if err != nil {
			return nil, err
		}
		files[filepath.Join(ManifestsDir, group+"_"+plural+".yaml")] = b
	}
	for name := range owned {
		return nil, fmt.Errorf("CSV base owns %s but config has no such CRD", name)
	}

	// Images.
	managerImage := ""
	for _, d := range deployments {
		for i := range d.Spec.Template.Spec.Containers {
			c := &d.Spec.Template.Spec.Containers[i]
			if c.Name != ManagerContainer {
				continue
			}
			if o.Image != "" {
				c.Image = o.Image
			}
			managerImage = c.Image
		}
	}
	if managerImage == "" {
		return nil, fmt.Errorf("no container named %q in the Deployments", ManagerContainer)
	}
	if o.Image == "" {
		tag := managerImage[strings.LastIndex(managerImage, ":")+1:]
		if strings.Contains(managerImage, "@") || (tag != "v"+o.Version && tag != o.Version) {
			return nil, fmt.Errorf("manager image %s does not match version %s: set the tag in config/manager/kustomization.yaml or pass --image", managerImage, o.Version)
		}
	}
	related := map[string]string{"virtmesh-operator": managerImage}
	for _, d := range deployments {
		spec := d.Spec.Template.Spec
		for _, c := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
			for _, e := range c.Env {
				if !strings.HasPrefix(e.Name, RelatedImageEnvPrefix) {
					continue
				}
				if e.Value == "" {
					return nil, fmt.Errorf("container %s: %s must have a literal value (OLM relatedImages)", c.Name, e.Name)
				}
				name := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(e.Name, RelatedImageEnvPrefix)), "_", "-")
				if prev, ok := related[name]; ok && prev != e.Value {
					return nil, fmt.Errorf("%s has two values: %s and %s", e.Name, prev, e.Value)
				}
				related[name] = e.Value
			}
		}
	}
	csv.Spec.RelatedImages = nil
	for _, name := range sortedKeys(related) {
		csv.Spec.RelatedImages = append(csv.Spec.RelatedImages, operatorsv1alpha1.RelatedImage{Name: name, Image: related[name]})
	}

	// Install strategy: deployments and the RBAC bound to their service accounts.
	deploySAs := map[string]bool{}
	var specDeployments []operatorsv1alpha1.StrategyDeploymentSpec
	for _, d := range deployments {
		sa := d.Spec.Template.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		deploySAs[sa] = true
		specDeployments = append(specDeployments, operatorsv1alpha1.StrategyDeploymentSpec{
			Name:  d.Name,
			Label: d.Labels,
			Spec:  d.Spec,
		})
	}
	perms := map[string][]rbacv1.PolicyRule{}
	clusterPerms := map[string][]rbacv1.PolicyRule{}
	usedRoles := map[string]bool{}
	for _, b := range bindings {
		var rb rbacv1.RoleBinding // ClusterRoleBinding has the same shape
		if err := convert(b, &rb); err != nil {
			return nil, fmt.Errorf("%s %s: %w", b.GetKind(), b.GetName(), err)
		}
		var bound []string
		for _, s := range rb.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && deploySAs[s.Name] {
				bound = append(bound, s.Name)
			}
		}
		if len(bound) == 0 {
			extras = append(extras, b)
			continue
		}
		if len(bound) != len(rb.Subjects) {
			return nil, fmt.Errorf("%s %s binds the operator's service account and other subjects; split it", b.GetKind(), b.GetName())
		}
		key := rb.RoleRef.Kind + "/" + rb.RoleRef.Name
		role, ok := roles[key]
		if !ok {
			return nil, fmt.Errorf("%s %s refers to %s, which is not in the build", b.GetKind(), b.GetName(), key)
		}
		usedRoles[key] = true
		var r rbacv1.ClusterRole
		if err := convert(role, &r); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if r.AggregationRule != nil && len(r.AggregationRule.ClusterRoleSelectors) > 0 {
			return nil, fmt.Errorf("%s is an aggregated role; OLM cannot express it as permissions", key)
		}
		for _, sa := range bound {
			if b.GetKind() == "ClusterRoleBinding" {
				clusterPerms[sa] = append(clusterPerms[sa], r.Rules...)
			} else {
				perms[sa] = append(perms[sa], r.Rules...)
			}
		}
	}
	for _, key := range sortedKeys(roles) {
		if !usedRoles[key] {
			extras = append(extras, roles[key])
		}
	}
	for _, sa := range sas {
		if !deploySAs[sa.GetName()] {
			extras = append(extras, sa)
		}
	}
	for sa := range deploySAs {
		if _, ok := perms[sa]; !ok {
			if _, ok := clusterPerms[sa]; !ok {
				perms[sa] = []rbacv1.PolicyRule{} // OLM creates the service account of each permission entry
			}
		}
	}
	strategy := operatorsv1alpha1.StrategyDetailsDeployment{DeploymentSpecs: specDeployments}
	for _, sa := range sortedKeys(perms) {
		strategy.Permissions = append(strategy.Permissions, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: sa, Rules: perms[sa]})
	}
	for _, sa := range sortedKeys(clusterPerms) {
		strategy.ClusterPermissions = append(strategy.ClusterPermissions, operatorsv1alpha1.StrategyDeploymentPermissions{ServiceAccountName: sa, Rules: clusterPerms[sa]})
	}
	csv.Spec.InstallStrategy = operatorsv1alpha1.NamedInstallStrategy{
		StrategyName: operatorsv1alpha1.InstallStrategyNameDeployment,
		StrategySpec: strategy,
	}

	// Extras: cluster objects as they are, namespaced ones without a namespace
	// (OLM creates them in the operator's namespace).
	for _, u := range extras {
		u.SetNamespace("")
		gv, err := schema.ParseGroupVersion(u.GetAPIVersion())
		if err != nil {
			return nil, err
		}
		name := u.GetName() + "_"
		if gv.Group != "" {
			name += gv.Group + "_"
		}
		name += gv.Version + "_" + strings.ToLower(u.GetKind()) + ".yaml"
		b, err := marshal(u.Object)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(ManifestsDir, name)
		if _, dup := files[p]; dup {
			return nil, fmt.Errorf("two objects map to %s", p)
		}
		files[p] = b
	}

	// Metadata of the CSV.
	csv.Name = o.Package + ".v" + o.Version
	if err := json.Unmarshal([]byte(strconv.Quote(o.Version)), &csv.Spec.Version); err != nil {
		return nil, fmt.Errorf("version %q: %w", o.Version, err)
	}
	if csv.Annotations == nil {
		csv.Annotations = map[string]string{}
	}
	examples, err := o.examples(csv.Spec.CustomResourceDefinitions.Owned)
	if err != nil {
		return nil, err
	}
	csv.Annotations["alm-examples"] = examples
	csv.Annotations["containerImage"] = managerImage
	csv.Annotations["createdAt"] = createdAt
	if len(csv.Spec.Icon) == 0 {
		svg, err := os.ReadFile(o.path(o.IconFile))
		if err != nil {
			return nil, fmt.Errorf("icon: %w", err)
		}
		csv.Spec.Icon = []operatorsv1alpha1.Icon{{Data: base64.StdEncoding.EncodeToString(bytes.TrimSpace(svg)), MediaType: "image/svg+xml"}}
	}

	var m map[string]interface{}
	if err := convert(csv, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	unstructured.RemoveNestedField(m, "metadata", "creationTimestamp")
	deps, _, _ := unstructured.NestedSlice(m, "spec", "install", "spec", "deployments")
	for _, d := range deps {
		unstructured.RemoveNestedField(d.(map[string]interface{}), "spec", "template", "metadata", "creationTimestamp")
	}
	_ = unstructured.SetNestedSlice(m, deps, "spec", "install", "spec", "deployments")
	b, err := marshal(m)
	if err != nil {
		return nil, err
	}
	files[filepath.Join(ManifestsDir, o.Package+".clusterserviceversion.yaml")] = b

	// annotations.yaml and bundle.Dockerfile from the same list.
	var ann, df bytes.Buffer
	ann.WriteString("annotations:\n")
	df.WriteString("# Generated by hack/bundle (make bundle); do not edit. The LABELs equal\n# bundle/metadata/annotations.yaml.\nFROM scratch\n\n")
	for _, kv := range o.Annotations() {
		fmt.Fprintf(&ann, "  %s: %s\n", kv[0], kv[1])
		fmt.Fprintf(&df, "LABEL %s=%s\n", kv[0], kv[1])
	}
	df.WriteString("\nCOPY bundle/manifests /manifests/\nCOPY bundle/metadata /metadata/\n")
	files[AnnotationsFile] = ann.Bytes()
	files[DockerfileFile] = df.Bytes()
	return files, nil
}

// Write replaces bundle/manifests and bundle/metadata under out with files.
func Write(out string, files map[string][]byte) error {
	for _, d := range []string{ManifestsDir, MetadataDir} {
		if err := os.RemoveAll(filepath.Join(out, d)); err != nil {
			return err
		}
	}
	for _, p := range sortedKeys(files) {
		full := filepath.Join(out, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func (o Options) createdAt() (string, error) {
	v := o.CreatedAt
	if v == "" {
		raw, err := os.ReadFile(o.path(o.ReleasesFile))
		if err != nil {
			return "", fmt.Errorf("createdAt: %w", err)
		}
		var rel struct {
			Releases []struct {
				Version   string `json:"version"`
				CreatedAt string `json:"createdAt"`
			} `json:"releases"`
		}
		if err := yaml.UnmarshalStrict(raw, &rel); err != nil {
			return "", fmt.Errorf("%s: %w", o.ReleasesFile, err)
		}
		for _, r := range rel.Releases {
			if r.Version == o.Version {
				v = r.CreatedAt
			}
		}
		if v == "" {
			return "", fmt.Errorf("version %s is not in %s: add its release date (createdAt) or pass --created-at", o.Version, o.ReleasesFile)
		}
	}
	if _, err := time.Parse(time.RFC3339, v); err != nil {
		return "", fmt.Errorf("createdAt %q: want RFC 3339, e.g. 2026-11-25T00:00:00Z", v)
	}
	return v, nil
}

func (o Options) kustomizeBuild() ([]*unstructured.Unstructured, error) {
	cmd := exec.Command(o.path(o.Kustomize), "build", o.path(o.ManifestsDir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %v: %s", o.ManifestsDir, err, stderr.String())
	}
	return decode(out)
}

func decode(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		var m map[string]interface{}
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return objs, nil
			}
			return nil, err
		}
		if len(m) == 0 {
			continue
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
}

// examples returns alm-examples: the first sample of each owned kind.
func (o Options) examples(owned []operatorsv1alpha1.CRDDescription) (string, error) {
	want := map[string]bool{} // "group/version/Kind"
	for _, d := range owned {
		group := d.Name[strings.Index(d.Name, ".")+1:]
		want[group+"/"+d.Version+"/"+d.Kind] = true
	}
	found := map[string]map[string]interface{}{}
	for _, f := range o.Samples {
		raw, err := os.ReadFile(o.path(f))
		if err != nil {
			return "", err
		}
		objs, err := decode(raw)
		if err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		for _, u := range objs {
			gvk := u.GroupVersionKind()
			key := gvk.Group + "/" + gvk.Version + "/" + gvk.Kind
			if want[key] && found[key] == nil {
				found[key] = u.Object
			}
		}
	}
	var list []map[string]interface{}
	for _, key := range sortedKeys(want) {
		if found[key] == nil {
			return "", fmt.Errorf("no sample of %s in %v", key, o.Samples)
		}
		list = append(list, found[key])
	}
	b, err := json.MarshalIndent(list, "", "  ")
	return string(b), err
}

// checkOwned checks the owned entry against the CRD: version served, and the
// descriptor paths exist in the schema (so a renamed field breaks make bundle,
// not the console).
func checkOwned(crd *unstructured.Unstructured, d operatorsv1alpha1.CRDDescription) error {
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	if kind != d.Kind {
		return fmt.Errorf("CSV owned %s: kind %s, CRD says %s", d.Name, d.Kind, kind)
	}
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		vm := v.(map[string]interface{})
		if vm["name"] != d.Version {
			continue
		}
		schemaRoot, _, _ := unstructured.NestedMap(vm, "schema", "openAPIV3Schema")
		for _, sd := range d.SpecDescriptors {
			if !hasPath(schemaRoot, "spec."+sd.Path) {
				return fmt.Errorf("CSV owned %s: specDescriptor %s is not in the CRD schema", d.Name, sd.Path)
			}
		}
		for _, sd := range d.StatusDescriptors {
			if !hasPath(schemaRoot, "status."+sd.Path) {
				return fmt.Errorf("CSV owned %s: statusDescriptor %s is not in the CRD schema", d.Name, sd.Path)
			}
		}
		return nil
	}
	return fmt.Errorf("CSV owned %s: version %s is not in the CRD", d.Name, d.Version)
}

func hasPath(s map[string]interface{}, path string) bool {
	for _, seg := range strings.Split(path, ".") {
		for s["type"] == "array" {
			items, ok := s["items"].(map[string]interface{})
			if !ok {
				return false
			}
			s = items
		}
		props, ok := s["properties"].(map[string]interface{})
		if !ok {
			return false
		}
		if s, ok = props[seg].(map[string]interface{}); !ok {
			return false
		}
	}
	return true
}

func convert(in, out interface{}) error {
	if u, ok := in.(*unstructured.Unstructured); ok {
		in = u.Object
	}
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, out)
}

func marshal(obj interface{}) ([]byte, error) {
	return yaml.Marshal(obj)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
