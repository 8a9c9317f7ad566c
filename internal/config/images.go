// Package config is the operator's own configuration, read once at start-up
// from its environment. Operand images come from RELATED_IMAGE_* variables (the
// OLM convention, listed again as relatedImages in the bundle), never from
// constants in code, so a disconnected mirror only has to rewrite the CSV.
package config

import (
	"fmt"
	"strings"
)

// Images are the operand images the operator deploys.
type Images struct {
	// Launcher is the VirtMesh image: virt-launcher (compute, net-setup,
	// disk-helper). Env RELATED_IMAGE_LAUNCHER.
	Launcher string
	// Hub is the default registry/repository prefix of mesh images when a
	// MeshControlPlane names none (spec.images.hub). Env MESH_HUB.
	Hub string
	// Proxy is the default proxy image; "" means <hub>/proxyv2:<version>.
	// Env RELATED_IMAGE_PROXY.
	Proxy string
	// Istiod is the default discovery image; "" means <hub>/pilot:<version>.
	// Env RELATED_IMAGE_ISTIOD.
	Istiod string
	// Prometheus, Grafana, Kiali and Jaeger are the addon images.
	// Env RELATED_IMAGE_PROMETHEUS, _GRAFANA, _KIALI, _JAEGER.
	Prometheus string
	Grafana    string
	Kiali      string
	Jaeger     string
}

// envNames maps each env variable to the field it fills.
func (i *Images) envNames() map[string]*string {
	return map[string]*string{
		"RELATED_IMAGE_LAUNCHER":   &i.Launcher,
		"MESH_HUB":                 &i.Hub,
		"RELATED_IMAGE_PROXY":      &i.Proxy,
		"RELATED_IMAGE_ISTIOD":     &i.Istiod,
		"RELATED_IMAGE_PROMETHEUS": &i.Prometheus,
		"RELATED_IMAGE_GRAFANA":    &i.Grafana,
		"RELATED_IMAGE_KIALI":      &i.Kiali,
		"RELATED_IMAGE_JAEGER":     &i.Jaeger,
	}
}

// ImagesFromEnv reads the images from the environment through getenv (os.Getenv
// in main, a map in tests). The launcher image and the hub are required; the
// others may be empty and are then derived by the renderers.
func ImagesFromEnv(getenv func(string) string) (Images, error) {
	var img Images
	for name, field := range img.envNames() {
		*field = strings.TrimSpace(getenv(name))
	}
	var missing []string
	if img.Launcher == "" {
		missing = append(missing, "RELATED_IMAGE_LAUNCHER")
	}
	if img.Hub == "" {
		missing = append(missing, "MESH_HUB")
	}
	if len(missing) > 0 {
		return Images{}, fmt.Errorf("operator environment lacks %s: set them in the operator Deployment (config/manager) or the CSV", strings.Join(missing, ", "))
	}
	return img, nil
}
