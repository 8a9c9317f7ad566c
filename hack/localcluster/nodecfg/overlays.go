package nodecfg

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Images are the images the local cluster imports into the node's
// containerd and runs (bin/images/index.json names them).
type Images struct {
	Operator    string `json:"operator"`
	Launcher    string `json:"launcher"`
	Proxy       string `json:"proxy"`
	Istiod      string `json:"istiod"`
	Guest       string `json:"guest"`
	Productpage string `json:"productpage"`
	Pause       string `json:"pause"`
	CoreDNS     string `json:"coredns"`
}

// SplitImage splits "registry/repo:tag" into name and tag ("" without one).
func SplitImage(ref string) (name, tag string) {
	slash := strings.LastIndexByte(ref, '/')
	if i := strings.LastIndexByte(ref, ':'); i > slash {
		return ref[:i], ref[i+1:]
	}
	return ref, ""
}

// rel is target relative to dir, as kustomize wants a base.
func rel(dir, target string) (string, error) {
	r, err := filepath.Rel(dir, target)
	if err != nil {
		return "", fmt.Errorf("kustomize path from %s to %s: %w", dir, target, err)
	}
	return filepath.ToSlash(r), nil
}

// OperatorOverlay is the kustomization in overlayDir that installs the
// operator the way a user does (`kubectl apply -k config/default`), with
// the local images: the operator's own (a name override, as a user would
// with `kustomize edit set image`) and the launcher it renders. Leader
// election stays on (it is in config/manager). The images are imported,
// never pulled.
func OperatorOverlay(overlayDir, repoRoot string, img Images) ([]byte, error) {
	base, err := rel(overlayDir, filepath.Join(repoRoot, "config", "default"))
	if err != nil {
		return nil, err
	}
	name, tag := SplitImage(img.Operator)
	patch := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: virtmesh-controller-manager
  namespace: virtmesh-system
spec:
  template:
    spec:
      containers:
        - name: manager
          imagePullPolicy: Never
          env:
            - name: RELATED_IMAGE_LAUNCHER
              value: %s
`, img.Launcher)
	return marshalYAML(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  []string{base},
		"images":     []any{map[string]string{"name": "quay.io/virtmesh/virtmesh-operator", "newName": name, "newTag": tag}},
		"patches":    []any{map[string]string{"patch": patch}},
	}), nil
}

// MeshSampleOverlay applies config/samples' MeshControlPlane with the
// local images in spec.images (the operator's default images are used
// only for the version it was built for): istiod's image built from the
// pinned pilot-discovery, which runs the rendered Deployment unchanged,
// and the proxy stand-in. The ingress gateway and the addons are off:
// their images (an Envoy-based gateway, Prometheus, Kiali) cannot be had
// on this machine, so their pods would only sit in ImagePullBackOff.
func MeshSampleOverlay(overlayDir, repoRoot string, img Images) ([]byte, error) {
	mcp, err := rel(overlayDir, filepath.Join(repoRoot, "config", "samples", "mesh_v1alpha1_meshcontrolplane.yaml"))
	if err != nil {
		return nil, err
	}
	return marshalYAML(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  []string{mcp},
		"patches": []any{map[string]any{
			"target": map[string]string{"kind": "MeshControlPlane", "name": "basic"},
			"patch": fmt.Sprintf(`- op: add
  path: /spec/images
  value:
    istiod: %s
    proxy: %s
- op: replace
  path: /spec/gateways/ingress/enabled
  value: false
- op: replace
  path: /spec/addons
  value: {}
`, img.Istiod, img.Proxy),
		}},
	}), nil
}

// BookinfoSampleOverlay applies config/samples' details VM with its
// containerDisk replaced by the local test guest, and the productpage
// stand-in that calls it.
func BookinfoSampleOverlay(overlayDir, repoRoot string, img Images) ([]byte, error) {
	vm, err := rel(overlayDir, filepath.Join(repoRoot, "config", "samples", "bookinfo-details-vm.yaml"))
	if err != nil {
		return nil, err
	}
	pp, err := rel(overlayDir, filepath.Join(repoRoot, "hack", "localcluster", "samples", "productpage.yaml"))
	if err != nil {
		return nil, err
	}
	name, tag := SplitImage(img.Productpage)
	return marshalYAML(map[string]any{
		"apiVersion": "kustomize.config.k8s.io/v1beta1",
		"kind":       "Kustomization",
		"resources":  []string{vm, pp},
		"images":     []any{map[string]string{"name": "productpage-standin", "newName": name, "newTag": tag}},
		"patches": []any{map[string]any{
			"target": map[string]string{"kind": "VirtualMachine", "name": "details-v1"},
			"patch": fmt.Sprintf(`- op: replace
  path: /spec/template/spec/volumes/0/containerDisk/image
  value: %s
- op: add
  path: /spec/template/spec/volumes/0/containerDisk/imagePullPolicy
  value: Never
`, img.Guest),
		}},
	}), nil
}
