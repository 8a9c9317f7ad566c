package launcherpod

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
)

func proxyEnv(t *testing.T, pod *corev1.Pod, name string) string {
	t.Helper()
	for _, c := range pod.Spec.InitContainers {
		if c.Name != podcontract.ContainerProxy {
			continue
		}
		for _, e := range c.Env {
			if e.Name == name {
				return e.Value
			}
		}
	}
	t.Fatalf("no %s in the istio-proxy container", name)
	return ""
}

// TestProxyConfig: PROXY_CONFIG is the mesh's defaultConfig with the VMI's
// proxy.istio.io/config on top (proxyMetadata merged key by key).
func TestProxyConfig(t *testing.T) {
	cases := map[string]struct {
		annotation string // "" = none
		mesh       func(*injection.Settings)
		want       map[string]any
	}{
		"mesh defaults": {
			want: map[string]any{
				"discoveryAddress": "istiod.istio-system.svc:15012", "holdApplicationUntilProxyStarts": false,
				"proxyMetadata": map[string]any{"ISTIO_META_CLUSTER_ID": "Kubernetes"},
				"tracing":       map[string]any{"sampling": 1.0, "zipkin": map[string]any{"address": "zipkin.istio-system.svc:9411"}},
			},
		},
		"annotation wins, metadata merged": {
			annotation: `{"holdApplicationUntilProxyStarts": true, "tracing": {"sampling": 10}, "proxyMetadata": {"ISTIO_META_DNS_CAPTURE": "true"}}`,
			want: map[string]any{
				"discoveryAddress": "istiod.istio-system.svc:15012", "holdApplicationUntilProxyStarts": true,
				"proxyMetadata": map[string]any{"ISTIO_META_CLUSTER_ID": "Kubernetes", "ISTIO_META_DNS_CAPTURE": "true"},
				"tracing":       map[string]any{"sampling": 10.0},
			},
		},
		"YAML annotation": {
			annotation: "concurrency: 2\n",
			mesh: func(s *injection.Settings) {
				s.ProxyConfig = map[string]any{"discoveryAddress": "istiod.mesh.svc:15012"}
			},
			want: map[string]any{"discoveryAddress": "istiod.mesh.svc:15012", "concurrency": 2.0},
		},
		"snapshot without proxyConfig": {
			mesh: func(s *injection.Settings) { s.ProxyConfig = nil; s.HoldApplicationUntilProxyStarts = true },
			want: map[string]any{"discoveryAddress": "istiod.istio-system.svc:15012", "holdApplicationUntilProxyStarts": true},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			mesh := testSettings()
			if tc.mesh != nil {
				tc.mesh(mesh)
			}
			w := details()
			if tc.annotation != "" {
				w = w.Annotation(AnnotationProxyConfig, tc.annotation)
			}
			pod, err := RenderLauncherPod(w.Obj(), mesh, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(proxyEnv(t, pod, "PROXY_CONFIG")), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("PROXY_CONFIG (-want +got):\n%s", diff)
			}
			if tc.mesh == nil && mesh.ProxyConfig["holdApplicationUntilProxyStarts"] != false {
				t.Errorf("rendering changed the settings' proxyConfig: %v", mesh.ProxyConfig)
			}
		})
	}
}

// TestPodAnnotations: Istio's annotations of the VMI reach the pod, other
// annotations do not, the renderer's own win, and prometheus.io/* follow
// metrics merging.
func TestPodAnnotations(t *testing.T) {
	cases := map[string]struct {
		annotations map[string]string
		merge       bool
		want        map[string]string // "" = must be absent
	}{
		"carried and merged": {
			annotations: map[string]string{
				"sidecar.istio.io/logLevel": "debug", "proxy.istio.io/config": "{}", "traffic.sidecar.istio.io/excludeOutboundPorts": "25",
				"istio.io/rev": "canary", "example.com/owner": "me", "prometheus.io/port": "9100",
			},
			merge: true,
			want: map[string]string{
				"sidecar.istio.io/logLevel": "debug", "proxy.istio.io/config": "{}", "traffic.sidecar.istio.io/excludeOutboundPorts": "25",
				"istio.io/rev": "canary", "example.com/owner": "",
				"prometheus.io/port": "15020", "prometheus.io/path": "/stats/prometheus", "prometheus.io/scrape": "true",
			},
		},
		"renderer wins": {
			annotations: map[string]string{AnnotationKubevirtIfaces: "eth9"},
			want:        map[string]string{AnnotationKubevirtIfaces: podcontract.DefaultBridge, "prometheus.io/port": ""},
		},
		"merging off for this VM": {
			annotations: map[string]string{AnnotationMergeMetrics: "false"},
			merge:       true,
			want:        map[string]string{AnnotationMergeMetrics: "false", "prometheus.io/scrape": ""},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			mesh := testSettings()
			mesh.EnablePrometheusMerge = tc.merge
			w := details()
			for k, v := range tc.annotations {
				w = w.Annotation(k, v)
			}
			pod, err := RenderLauncherPod(w.Obj(), mesh, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			for k, want := range tc.want {
				got, ok := pod.Annotations[k]
				if want == "" && ok {
					t.Errorf("annotation %s=%q, want none", k, got)
				}
				if want != "" && got != want {
					t.Errorf("annotation %s=%q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestSidecarLifecycle: like Istio's native sidecar, always a startupProbe
// (the kubelet starts the VM once the proxy is ready), a preStop drain, and
// the cluster domain in --domain.
func TestSidecarLifecycle(t *testing.T) {
	mesh := testSettings()
	mesh.ClusterDomain = "corp.example"
	pod, err := RenderLauncherPod(details().Obj(), mesh, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.InitContainers[2]
	if c.StartupProbe == nil || c.StartupProbe.HTTPGet == nil || c.StartupProbe.HTTPGet.Port.IntValue() != podcontract.ProxyHealthPort {
		t.Errorf("startupProbe = %+v", c.StartupProbe)
	}
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || strings.Join(c.Lifecycle.PreStop.Exec.Command, " ") != "pilot-agent request --debug-port=15020 POST drain" {
		t.Errorf("lifecycle = %+v", c.Lifecycle)
	}
	if got := strings.Join(c.Args, " "); !strings.Contains(got, "--domain $(POD_NAMESPACE).svc.corp.example ") {
		t.Errorf("args %q: want --domain $(POD_NAMESPACE).svc.corp.example", got)
	}
}

func TestIstioAnnotationErrors(t *testing.T) {
	cases := map[string]struct{ key, value, want string }{
		"proxy config not YAML":     {AnnotationProxyConfig, "{concurrency: [", "is not a ProxyConfig in YAML or JSON"},
		"proxy config not a object": {AnnotationProxyConfig, "- 1\n", "is not a ProxyConfig in YAML or JSON"},
		"merge-metrics not a bool":  {AnnotationMergeMetrics, "maybe", "want true or false"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := RenderLauncherPod(details().Annotation(tc.key, tc.value).Obj(), testSettings(), testOpts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.key) {
				t.Errorf("err = %v, want one naming %s and containing %q", err, tc.key, tc.want)
			}
		})
	}
}
