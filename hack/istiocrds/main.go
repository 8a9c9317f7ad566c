// Command istiocrds writes Istio's CRDs, as the pinned istio.io/istio module
// (hack/tools/istio) ships them in manifests/charts/base/files/crd-all.gen.yaml,
// into config/crd/istio: one file per CRD and a kustomization listing them.
// VirtMesh ships them so that Istio's configuration (VirtualService,
// DestinationRule, Gateway, PeerAuthentication, ...) can be written right
// after installing VirtMesh. Run by `make manifests`:
//
//	go run ./hack/istiocrds
//
// The CRDs are Istio's, unchanged but for their labels and annotations: the
// chart's legacy labels and Helm annotation are replaced by labels saying
// they are part of VirtMesh and an annotation naming the Istio module they
// come from.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

const (
	istioModule = "istio.io/istio"
	crdFile     = "manifests/charts/base/files/crd-all.gen.yaml"
	// AnnotationSource names the module version a CRD comes from.
	AnnotationSource = "virtmesh.io/istio-module"
)

func main() {
	toolDir := flag.String("tool-module", "hack/tools/istio", "module that pins istio.io/istio")
	out := flag.String("output", "config/crd/istio", "directory to write the CRDs and their kustomization.yaml into")
	flag.Parse()
	if err := run(*toolDir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "istiocrds:", err)
		os.Exit(1)
	}
}

func run(toolDir, out string) error {
	dir, version, err := moduleDir(toolDir)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(dir, crdFile))
	if err != nil {
		return err
	}
	files, err := split(raw, istioModule+"@"+version)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := os.WriteFile(filepath.Join(out, name), files[name], 0o644); err != nil {
			return err
		}
	}
	kust := "# Istio's CRDs from " + istioModule + "@" + version + " (" + crdFile + "),\n" +
		"# written by hack/istiocrds (make manifests); do not edit.\nresources:\n"
	for _, name := range names {
		kust += "  - " + name + "\n"
	}
	if err := os.WriteFile(filepath.Join(out, "kustomization.yaml"), []byte(kust), 0o644); err != nil {
		return err
	}
	fmt.Printf("istiocrds: wrote %d CRDs from %s@%s to %s\n", len(names), istioModule, version, out)
	return nil
}

// moduleDir downloads (if needed) the istio module pinned by toolDir's go.mod
// and returns its directory and version.
func moduleDir(toolDir string) (string, string, error) {
	cmd := exec.Command("go", "mod", "download", "-json", istioModule)
	cmd.Dir = toolDir
	cmd.Stderr = os.Stderr
	b, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go mod download %s in %s: %w", istioModule, toolDir, err)
	}
	var m struct{ Dir, Version, Error string }
	if err := json.Unmarshal(b, &m); err != nil {
		return "", "", err
	}
	if m.Error != "" || m.Dir == "" {
		return "", "", fmt.Errorf("go mod download %s: %s", istioModule, m.Error)
	}
	return m.Dir, m.Version, nil
}

// split turns the multi-document file into one file per CRD, named
// <group>_<plural>.yaml like controller-gen's.
func split(raw []byte, source string) (map[string][]byte, error) {
	files := map[string][]byte{}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var crd map[string]any
		if err := yaml.Unmarshal([]byte(doc), &crd); err != nil {
			return nil, err
		}
		if crd["kind"] != "CustomResourceDefinition" {
			return nil, fmt.Errorf("unexpected %v in %s", crd["kind"], crdFile)
		}
		meta, _ := crd["metadata"].(map[string]any)
		spec, _ := crd["spec"].(map[string]any)
		names, _ := spec["names"].(map[string]any)
		group, _ := spec["group"].(string)
		plural, _ := names["plural"].(string)
		if meta == nil || group == "" || plural == "" {
			return nil, fmt.Errorf("a CRD in %s has no name, group or plural", crdFile)
		}
		meta["labels"] = map[string]any{"app.kubernetes.io/part-of": "virtmesh", "app.kubernetes.io/component": "istio-crds"}
		meta["annotations"] = map[string]any{AnnotationSource: source}
		b, err := yaml.Marshal(crd)
		if err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "# Istio's %s CRD from %s (%s), Apache License 2.0.\n# Written by hack/istiocrds (make manifests); do not edit.\n---\n", meta["name"], source, crdFile)
		buf.Write(b)
		files[group+"_"+plural+".yaml"] = buf.Bytes()
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", crdFile)
	}
	return files, nil
}

func stripComments(doc string) string {
	var lines []string
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}
