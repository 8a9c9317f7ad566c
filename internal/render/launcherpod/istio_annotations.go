package launcherpod

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// Annotations of the VMI that Istio reads from the pod.
const (
	// AnnotationProxyConfig overrides fields of the mesh's defaultConfig for
	// this VM's proxy (a ProxyConfig in YAML or JSON).
	AnnotationProxyConfig = "proxy.istio.io/config"
	// AnnotationMergeMetrics turns the agent's metrics merging off ("false")
	// or on for this VM.
	AnnotationMergeMetrics = "prometheus.istio.io/merge-metrics"
)

// istioAnnotations are the VMI's annotations in Istio's domains
// (sidecar.istio.io/*, proxy.istio.io/*, traffic.sidecar.istio.io/*, ...):
// KubeVirt copies a VMI's annotations to its launcher pod, and Istio's agent
// and istiod read these from the pod.
func istioAnnotations(vmi *virtv1alpha1.VirtualMachineInstance) map[string]string {
	out := map[string]string{}
	for k, v := range vmi.Annotations {
		domain, _, ok := strings.Cut(k, "/")
		if ok && (domain == "istio.io" || strings.HasSuffix(domain, ".istio.io")) {
			out[k] = v
		}
	}
	return out
}

// proxyConfigJSON is the sidecar's PROXY_CONFIG: the mesh's defaultConfig
// with the VMI's proxy.istio.io/config on top, as Istio's injector computes
// it (a field of the annotation replaces the mesh's; proxyMetadata is merged
// key by key).
func proxyConfigJSON(vmi *virtv1alpha1.VirtualMachineInstance, mesh *injection.Settings) (string, error) {
	cfg := maps.Clone(mesh.ProxyConfig)
	if cfg == nil {
		// A snapshot published before proxyConfig existed.
		cfg = map[string]any{"discoveryAddress": mesh.DiscoveryAddress, "holdApplicationUntilProxyStarts": mesh.HoldApplicationUntilProxyStarts}
	}
	if raw, ok := vmi.Annotations[AnnotationProxyConfig]; ok {
		var override map[string]any
		if err := yaml.Unmarshal([]byte(raw), &override); err != nil {
			return "", fmt.Errorf("annotation %s is not a ProxyConfig in YAML or JSON (e.g. '{\"holdApplicationUntilProxyStarts\": true}'): %w", AnnotationProxyConfig, err)
		}
		for k, v := range override {
			base, baseIsMap := cfg[k].(map[string]any)
			add, addIsMap := v.(map[string]any)
			if k == "proxyMetadata" && baseIsMap && addIsMap {
				merged := maps.Clone(base)
				maps.Copy(merged, add)
				v = merged
			}
			cfg[k] = v
		}
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode PROXY_CONFIG: %w", err)
	}
	return string(b), nil
}

// prometheusMerge reports whether the pod gets Istio's prometheus.io/*
// annotations: the mesh merges metrics, unless the VMI's
// prometheus.istio.io/merge-metrics says otherwise.
func prometheusMerge(vmi *virtv1alpha1.VirtualMachineInstance, mesh *injection.Settings) (bool, error) {
	raw, ok := vmi.Annotations[AnnotationMergeMetrics]
	if !ok {
		return mesh.EnablePrometheusMerge, nil
	}
	v, err := strconv.ParseBool(raw)
	if err != nil {
		return false, fmt.Errorf("annotation %s=%q: want true or false", AnnotationMergeMetrics, raw)
	}
	return v, nil
}

// prometheusAnnotations are what Istio's injector sets when metrics are
// merged: scrape the agent's merged endpoint.
func prometheusAnnotations() map[string]string {
	return map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   strconv.Itoa(podcontract.ProxyAgentPort),
		"prometheus.io/path":   "/stats/prometheus",
	}
}
