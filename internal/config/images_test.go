package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestImagesFromEnv(t *testing.T) {
	env := map[string]string{
		"RELATED_IMAGE_LAUNCHER": "quay.io/virtmesh/virt-launcher:v0.1.0",
		"MESH_HUB":               " docker.io/istio ",
		"RELATED_IMAGE_KIALI":    "quay.io/kiali/kiali:v2.0",
	}
	got, err := ImagesFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Images{Launcher: "quay.io/virtmesh/virt-launcher:v0.1.0", Hub: "docker.io/istio", Kiali: "quay.io/kiali/kiali:v2.0"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestImagesFromEnvMissing(t *testing.T) {
	_, err := ImagesFromEnv(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "RELATED_IMAGE_LAUNCHER, MESH_HUB") {
		t.Fatalf("want an error naming both missing variables, got %v", err)
	}
}
