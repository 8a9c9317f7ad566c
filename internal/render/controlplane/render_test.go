package controlplane

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/config"
	"virtmesh.io/virtmesh/internal/testing/golden"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

// operatorImages is what the operator's environment gives in these tests.
var operatorImages = config.Images{
	Hub:        "registry.example.com/istio",
	Prometheus: "registry.example.com/prom/prometheus:v3.5.0",
	Grafana:    "registry.example.com/grafana/grafana:12.1.0",
	Kiali:      "registry.example.com/kiali/kiali:v2.14",
	Jaeger:     "registry.example.com/jaegertracing/all-in-one:1.72.0",
}

func scenarios() map[string]*meshv1alpha1.MeshControlPlane {
	return map[string]*meshv1alpha1.MeshControlPlane{
		"default": mcpbuilder.Make("basic", "istio-system").Obj(),
		"strict-gateway": mcpbuilder.Make("basic", "istio-system").MTLS(meshv1alpha1.MTLSStrict).
			Ingress().HoldApplication().Replicas(2).AccessLog("/dev/stdout").Outbound("REGISTRY_ONLY").Obj(),
		"all-addons": mcpbuilder.Make("basic", "istio-system").Addons("prometheus", "grafana", "kiali", "tracing").Obj(),
		"external-addons": mcpbuilder.Make("basic", "istio-system").
			AddonAddress("prometheus", "http://prometheus.monitoring:9090").
			AddonAddress("tracing", "jaeger-collector.observability:9411").
			AddonAddress("grafana", "https://grafana.example.com").
			Addons("kiali").Obj(),
		"custom-images": mcpbuilder.Make("basic", "istio-system").
			Images(meshv1alpha1.ImagesSpec{Hub: "quay.io/maistra", Tag: "2.6.0", Proxy: "quay.io/custom/proxy:dev"}).
			AddonImage("prometheus", "quay.io/custom/prometheus:dev").Ingress(meshv1alpha1.GatewayPort{Name: "tcp", Port: 9000, TargetPort: 9000}).Obj(),
		"revision": mcpbuilder.Make("canary", "mesh").Revision("canary").MTLS(meshv1alpha1.MTLSDisable).Ingress().Addons("prometheus").
			ClusterDomain("corp.example").Obj(),
	}
}

func TestGolden(t *testing.T) {
	for name, mcp := range scenarios() {
		t.Run(name, func(t *testing.T) {
			v, problems := Resolve(mcp, operatorImages)
			if len(problems) > 0 {
				t.Fatalf("Resolve problems: %v", problems)
			}
			objs, err := Render(v)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			for _, o := range objs {
				b, err := yaml.Marshal(o)
				if err != nil {
					t.Fatal(err)
				}
				buf.WriteString("---\n")
				buf.Write(b)
			}
			b, _ := yaml.Marshal(PeerAuthentication(v).Object)
			buf.WriteString("---\n")
			buf.Write(b)
			snap, err := InjectionSettings(v).Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			b, _ = yaml.Marshal(snap)
			buf.WriteString("---\n")
			buf.Write(b)
			golden.Assert(t, filepath.Join("testdata", name+".golden.yaml"), buf.Bytes())
		})
	}
}

// TestRenderedKindsAreListed keeps NamespacedKinds/ClusterKinds (what the
// controller watches and prunes) complete.
func TestRenderedKindsAreListed(t *testing.T) {
	listed := map[reflect.Type]bool{}
	for _, o := range append(NamespacedKinds(), ClusterKinds()...) {
		listed[reflect.TypeOf(o)] = true
	}
	for name, mcp := range scenarios() {
		v, _ := Resolve(mcp, operatorImages)
		objs, err := Render(v)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if !listed[reflect.TypeOf(o)] {
				t.Errorf("%s: rendered kind %T is not in NamespacedKinds/ClusterKinds", name, o)
			}
			if o.GetObjectKind().GroupVersionKind().Kind == "" {
				t.Errorf("%s: %T %s has no TypeMeta (server-side apply needs it)", name, o, o.GetName())
			}
		}
	}
}

func TestResolveProblems(t *testing.T) {
	cases := map[string]struct {
		mcp          *meshv1alpha1.MeshControlPlane
		images       config.Images
		wantProblems []string
	}{
		"addon without image": {
			mcp:          mcpbuilder.Make("a", "ns").Addons("grafana").Obj(),
			images:       config.Images{Hub: "h"},
			wantProblems: []string{ComponentGrafana},
		},
		"addon image from spec": {
			mcp:    mcpbuilder.Make("a", "ns").AddonImage("grafana", "g:1").Obj(),
			images: config.Images{Hub: "h"},
		},
		"external addon needs no image": {
			mcp:    mcpbuilder.Make("a", "ns").AddonAddress("tracing", "z:9411").Obj(),
			images: config.Images{Hub: "h"},
		},
		"no hub": {
			mcp:          mcpbuilder.Make("a", "ns").Obj(),
			wantProblems: []string{ComponentIstiod},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v, problems := Resolve(tc.mcp, tc.images)
			var got []string
			for _, p := range problems {
				got = append(got, p.Component)
			}
			if diff := cmp.Diff(tc.wantProblems, got); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
			for _, c := range Components(v) {
				if c.Name == ComponentGrafana && len(tc.wantProblems) > 0 {
					t.Errorf("unavailable addon still rendered")
				}
			}
		})
	}
}

func TestInjectionDefaults(t *testing.T) {
	v, _ := Resolve(mcpbuilder.Make("basic", "istio-system").Revision("blue").Obj(), operatorImages)
	s := InjectionSettings(v)
	if s.ProxyImage != "registry.example.com/istio/proxyv2:1.30.0" || s.DiscoveryAddress != "istiod-blue.istio-system.svc:15012" ||
		s.RootCertConfigMap != "istio-ca-root-cert" || s.ProxyUID != 1337 || s.InboundCapturePort != 15006 || s.OutboundCapturePort != 15001 ||
		!reflect.DeepEqual(s.IncludeOutboundIPRanges, []string{"*"}) || s.ProxyResources.Limits.Cpu().String() != "2" {
		t.Errorf("unexpected settings: %+v", s)
	}
}

func TestResolveImages(t *testing.T) {
	env := config.Images{Hub: "docker.io/istio", Istiod: "docker.io/istio/pilot:1.30.0", Proxy: "mirror.local/proxyv2@sha256:abc"}
	cases := map[string]struct {
		mcp                   *meshv1alpha1.MeshControlPlane
		wantIstiod, wantProxy string
	}{
		"operator defaults for the default version": {
			mcp:        mcpbuilder.Make("a", "ns").Obj(),
			wantIstiod: "docker.io/istio/pilot:1.30.0", wantProxy: "mirror.local/proxyv2@sha256:abc",
		},
		"another version: tag-pinned default not used": {
			mcp: func() *meshv1alpha1.MeshControlPlane {
				m := mcpbuilder.Make("a", "ns").Obj()
				m.Spec.Version = "1.29.1"
				return m
			}(),
			wantIstiod: "docker.io/istio/pilot:1.29.1", wantProxy: "mirror.local/proxyv2@sha256:abc",
		},
		"hub and tag from the spec": {
			mcp:        mcpbuilder.Make("a", "ns").Images(meshv1alpha1.ImagesSpec{Hub: "quay.io/maistra", Tag: "2.6.0"}).Obj(),
			wantIstiod: "quay.io/maistra/pilot:2.6.0", wantProxy: "quay.io/maistra/proxyv2:2.6.0",
		},
		"explicit overrides": {
			mcp:        mcpbuilder.Make("a", "ns").Images(meshv1alpha1.ImagesSpec{Istiod: "x/pilot:dev", Proxy: "x/proxy:dev"}).Obj(),
			wantIstiod: "x/pilot:dev", wantProxy: "x/proxy:dev",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			v, problems := Resolve(tc.mcp, env)
			if len(problems) > 0 {
				t.Fatal(problems)
			}
			if v.IstiodImage != tc.wantIstiod || v.ProxyImage != tc.wantProxy {
				t.Errorf("istiod=%s proxy=%s, want %s %s", v.IstiodImage, v.ProxyImage, tc.wantIstiod, tc.wantProxy)
			}
		})
	}
}
