package istio

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
)

// TestIstio runs the proofs in order; each step needs the ones before.
func TestIstio(t *testing.T) {
	s := &suite{top: t}
	for _, step := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"MeshControlPlane reports STRICT mTLS it cannot apply without Istio's CRDs", s.missingCRD},
		{"istiod is ready with the rendered RBAC, and so is the MeshControlPlane", s.istiodReady},
		{"Bookinfo: details as a VM and a pod, productpage as a VM, request routing", s.workloads},
		{"1 the VM's workload certificate names the VMI's ServiceAccount", s.workloadCertificate},
		{"2 the VM is an endpoint of details like a container pod", s.endpoints},
		{"3 subsets, 75/25 and end-user jason reach a client proxy's routes", s.routes},
		{"4 STRICT and PERMISSIVE change the VM's inbound listener", s.inboundMTLS},
		{"5 deleting the VMI removes its endpoint; push latency VM vs pod", s.endpointRemoval},
		{"6 the ingress gateway's agent gets its certificate through its volumes", s.gateway},
	} {
		if !t.Run(step.name, step.run) {
			t.Fatalf("step %q failed; the later steps need it", step.name)
		}
	}
}

type suite struct {
	top                 *testing.T // owns what later steps use
	istiod              *runningIstiod
	vmPod, podPod       *corev1.Pod
	vmAgent, clientAgnt *agent
	vmADS, clientADS    *ads
}

func (s *suite) missingCRD(t *testing.T) {
	// Delete the CRD while the operator is down, so it starts without it.
	if out, err := script(time.Minute, "operator-stop"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	kubectl(t, "", "delete", "crd", "peerauthentications.security.istio.io", "--wait=true")
	if out, err := script(2*time.Minute, "operator-start"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	applyMeshControlPlane(t)
	c := waitCondition(t, meshv1alpha1.ConditionReconciled, metav1.ConditionFalse, meshv1alpha1.ReasonIstioCRDsMissing, 60*time.Second)
	if !contains(c.Message, "STRICT is not enforced") || !contains(c.Message, "peerauthentications.security.istio.io") {
		t.Errorf("Reconciled message %q: want it to say STRICT is not enforced and name the CRD", c.Message)
	}
	// No istiod runs yet. kwok marks every pod ready, so its Deployment is
	// available; but no istiod made a CA, and Ready says so.
	r := waitCondition(t, meshv1alpha1.ConditionReady, metav1.ConditionFalse, meshv1alpha1.ReasonRootCertNotPublished, 60*time.Second)
	if !contains(r.Message, "istiod has not created its CA yet") {
		t.Errorf("Ready message %q: want it to say istiod has not created its CA", r.Message)
	}

	kubectl(t, "", "apply", "--server-side", "-f", filepath.Join(repoRoot, "config/crd/istio/security.istio.io_peerauthentications.yaml"))
	waitCondition(t, meshv1alpha1.ConditionReconciled, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled, 60*time.Second)
	eventually(t, 30*time.Second, "PeerAuthentication istio-system/default STRICT", func() error {
		out := kubectlQuiet("get", "peerauthentications.security.istio.io", "default", "-n", meshNS, "-o", "jsonpath={.spec.mtls.mode}")
		if out != "STRICT" {
			return fmt.Errorf("mode %q", out)
		}
		return nil
	})
}

func (s *suite) istiodReady(t *testing.T) {
	for _, f := range gatewayAPICRDs(t) {
		kubectl(t, "", "apply", "--server-side", "-f", f)
	}
	pod := runningPod(t, meshNS, "app=istiod")
	s.istiod = startIstiod(t, s.top, pod, "istiod")
	probe := s.istiod.Probe()
	var readyAfter time.Duration
	eventually(t, 3*time.Minute, "istiod GET /ready = 200", func() error {
		if ok, msg := probe.Ready(context.Background()); !ok {
			return fmt.Errorf("%s", msg)
		}
		readyAfter = time.Since(s.istiod.started)
		return nil
	})
	measure(t, "istiod /ready 200 after %s", readyAfter.Round(time.Millisecond))
	waitCondition(t, meshv1alpha1.ConditionReady, metav1.ConditionTrue, meshv1alpha1.ReasonComponentsReady, 60*time.Second)
	s.istiod.mu.Lock()
	measure(t, "MeshControlPlane Ready %s after istiod's readiness reached its pod", time.Since(s.istiod.readyAt).Round(time.Millisecond))
	s.istiod.mu.Unlock()
	if d := denials(s.istiod.log.String()); len(d) > 0 {
		t.Errorf("istiod logged RBAC denials with the rendered ClusterRole: %v", d)
	}
	// Memory at rest: sampled over 10 s after it is ready.
	var peak, last float64
	for range 10 {
		m, err := rss(s.istiod.PID())
		if err != nil {
			t.Fatal(err)
		}
		peak, last = max(peak, m), m
		time.Sleep(time.Second)
	}
	measure(t, "istiod RSS at rest: %.0f MiB (peak %.0f MiB over 10 s)", last, peak)
}

func (s *suite) workloads(t *testing.T) {
	kubectl(t, services+"---\n"+detailsV2Pod+"---\n"+vmiYAML("details-v1", "details", "v1", "details")+"---\n"+
		vmiYAML("productpage-v1", "productpage", "v1", "productpage"), "apply", "-f", "-")
	kubectl(t, "", "apply", "-f", filepath.Join(repoRoot, "config/samples/bookinfo-istio.yaml"))
	waitVMIReady(t, "details-v1", "productpage-v1")
	s.vmPod = launcherPod(t, "details-v1")
	s.podPod = runningPod(t, appNS, "app=details,version=v2")
	eventually(t, 60*time.Second, "istio-ca-root-cert in bookinfo", func() error {
		_, err := cs.CoreV1().ConfigMaps(appNS).Get(context.Background(), cp.RootCertConfigMap, metav1.GetOptions{})
		return err
	})
	// The pod the operator made carries exactly what RenderLauncherPod
	// renders for this VMI from the injection snapshot it names.
	vmi := &virtv1alpha1.VirtualMachineInstance{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: appNS, Name: "details-v1"}, vmi); err != nil {
		t.Fatal(err)
	}
	ns, name, _ := strings.Cut(s.vmPod.Annotations[launcherpod.AnnotationMeshSnapshot], "/")
	snap, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	settings, err := injection.FromSnapshot(snap)
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := launcherpod.RenderLauncherPod(vmi, &settings, launcherpod.Options{LauncherImage: s.vmPod.Spec.Containers[0].Image})
	if err != nil {
		t.Fatal(err)
	}
	want, err := findContainer(rendered, "istio-proxy")
	if err != nil {
		t.Fatal(err)
	}
	got, err := findContainer(s.vmPod, "istio-proxy")
	if err != nil {
		t.Fatal(err)
	}
	// Semantic: the API server spells the defaulted divisor "0".
	if !equality.Semantic.DeepEqual(want.Env, got.Env) || !reflect.DeepEqual(want.Args, got.Args) {
		t.Fatalf("the launcher pod's istio-proxy is not what RenderLauncherPod renders:\nwant env %v\ngot env  %v", want.Env, got.Env)
	}
}

func findContainer(p *corev1.Pod, name string) (corev1.Container, error) {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c, nil
		}
	}
	return corev1.Container{}, fmt.Errorf("pod %s has no %s", p.Name, name)
}

func (s *suite) workloadCertificate(t *testing.T) {
	start := time.Now()
	s.vmAgent = startAgent(t, agentSpec{pod: s.vmPod, container: "istio-proxy", istiod: s.istiod.Istiod, owner: s.top})
	cert, chain := s.vmAgent.workloadCert(t, 60*time.Second)
	measure(t, "VM workload certificate %s after pilot-agent started", time.Since(start).Round(time.Millisecond))
	want := "spiffe://cluster.local/ns/bookinfo/sa/details"
	var sans []string
	for _, u := range cert.URIs {
		sans = append(sans, u.String())
	}
	if len(sans) != 1 || sans[0] != want {
		t.Errorf("workload certificate URI SANs %v, want [%s]", sans, want)
	}
	// It chains to the root istiod published in the VM's namespace.
	cm, err := cs.CoreV1().ConfigMaps(appNS).Get(context.Background(), cp.RootCertConfigMap, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(cm.Data[cp.RootCertKey])) {
		t.Fatal("no root in istio-ca-root-cert")
	}
	for rest := chain; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && c.IsCA {
			inter.AddCert(c)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("workload certificate does not chain to istio-ca-root-cert: %v", err)
	}
	// The VMI's proxy.istio.io/config reached the pod (the agent reads it
	// from the pod's annotations file) and the proxy's effective config,
	// which istiod gets in the node metadata.
	if !contains(s.vmAgent.log.String(), `Apply proxy config from annotation {"proxyMetadata": {"ISTIO_META_VIRTMESH_VM": "details-v1"}}`) {
		t.Errorf("pilot-agent did not read the VMI's proxy.istio.io/config from the pod's annotations")
	}
	meta, _ := s.vmAgent.nodeJSON(t)["metadata"].(map[string]any)
	pc, _ := meta["PROXY_CONFIG"].(map[string]any)
	pm, _ := pc["proxyMetadata"].(map[string]any)
	if pm["ISTIO_META_VIRTMESH_VM"] != "details-v1" || pm["ISTIO_META_CLUSTER_ID"] != "Kubernetes" {
		t.Errorf("node metadata PROXY_CONFIG.proxyMetadata = %v, want the mesh's ISTIO_META_CLUSTER_ID and the VMI's ISTIO_META_VIRTMESH_VM", pm)
	}
	t.Logf("VM proxy %s: SAN %s", s.vmPod.Name, sans)
}

func (s *suite) endpoints(t *testing.T) {
	vmIP, podIP := s.vmPod.Status.PodIP, s.podPod.Status.PodIP
	eventually(t, 30*time.Second, "istiod's /debug/endpointz lists details' VM and pod", func() error {
		e := s.istiod.endpointz(t)
		for _, w := range []struct{ what, ip, sa string }{
			{"the VM's launcher pod", vmIP, "spiffe://cluster.local/ns/bookinfo/sa/details"},
			{"the container pod", podIP, "spiffe://cluster.local/ns/bookinfo/sa/bookinfo-details"},
		} {
			tls, sa, port, ok := e.endpointOf(detailsHost, appNS, w.ip)
			if !ok {
				return fmt.Errorf("%s (%s) is not an endpoint of %s", w.what, w.ip, detailsHost)
			}
			if tls != "istio" || sa != w.sa || port != 9080 {
				return fmt.Errorf("%s: tlsMode %q, serviceAccount %q, port %d; want istio, %s, 9080", w.what, tls, sa, port, w.sa)
			}
		}
		return nil
	})
	// The same, as a client proxy receives it: productpage's, in the mesh
	// as a VM too.
	s.clientAgnt = startAgent(t, agentSpec{pod: launcherPod(t, "productpage-v1"), container: "istio-proxy", istiod: s.istiod.Istiod, owner: s.top})
	s.clientAgnt.workloadCert(t, 60*time.Second)
	s.clientADS = dialADS(t, s.top, s.clientAgnt)
	s.clientADS.subscribe(t, typeEndpoint, detailsCluster)
	s.clientADS.await(t, typeEndpoint, 30*time.Second, func(r response) error {
		eps := edsEndpoints(t, r, detailsCluster)
		for _, ip := range []string{vmIP, podIP} {
			ep, ok := eps[ip]
			if !ok {
				return fmt.Errorf("EDS %s: no %s in %v", detailsCluster, ip, eps)
			}
			if ep.tlsMode != "istio" || ep.health != corev3.HealthStatus_HEALTHY || ep.port != 9080 {
				return fmt.Errorf("EDS endpoint %s: %+v, want tlsMode istio, HEALTHY, port 9080", ip, ep)
			}
		}
		return nil
	})
}

func (s *suite) routes(t *testing.T) {
	s.clientADS.subscribe(t, typeRoute, "9080")
	v1 := "outbound|9080|v1|" + detailsHost
	v2 := "outbound|9080|v2|" + detailsHost
	s.clientADS.await(t, typeRoute, 30*time.Second, func(r response) error {
		for _, rc := range routes(t, r) {
			for _, vh := range rc.VirtualHosts {
				if vh.Name != detailsHost+":9080" {
					continue
				}
				if len(vh.Routes) < 2 {
					return fmt.Errorf("virtual host %s has %d routes, want the jason match and the split", vh.Name, len(vh.Routes))
				}
				jason, split := vh.Routes[0], vh.Routes[1]
				h := jason.GetMatch().GetHeaders()
				if len(h) != 1 || h[0].Name != "end-user" || h[0].GetStringMatch().GetExact() != "jason" || jason.GetRoute().GetCluster() != v1 {
					return fmt.Errorf("first route %v: want header end-user exact jason to %s", jason, v1)
				}
				weights := map[string]uint32{}
				for _, wc := range split.GetRoute().GetWeightedClusters().GetClusters() {
					weights[wc.Name] = wc.GetWeight().GetValue()
				}
				if !reflect.DeepEqual(weights, map[string]uint32{v1: 75, v2: 25}) {
					return fmt.Errorf("second route's weighted clusters %v, want %s 75, %s 25", weights, v1, v2)
				}
				return nil
			}
		}
		return fmt.Errorf("no virtual host %s:9080 in route 9080", detailsHost)
	})
	// The subsets select the VM (v1) and the pod (v2) by their labels.
	s.clientADS.subscribe(t, typeEndpoint, v1, v2)
	got := map[string]string{}
	s.clientADS.await(t, typeEndpoint, 30*time.Second, func(r response) error {
		for _, sub := range []struct{ cluster, ip string }{{v1, s.vmPod.Status.PodIP}, {v2, s.podPod.Status.PodIP}} {
			eps, ok := edsClusters(t, r)[sub.cluster]
			if !ok {
				if got[sub.cluster] == "" {
					return fmt.Errorf("no EDS for %s yet", sub.cluster)
				}
				continue
			}
			if _, ok := eps[sub.ip]; len(eps) != 1 || !ok {
				return fmt.Errorf("EDS %s: %v, want only %s", sub.cluster, eps, sub.ip)
			}
			got[sub.cluster] = sub.ip
		}
		return nil
	})
}

func (s *suite) inboundMTLS(t *testing.T) {
	s.vmADS = dialADS(t, s.top, s.vmAgent)
	s.vmADS.subscribe(t, typeListener)
	s.vmADS.await(t, typeListener, 30*time.Second, func(r response) error { return inbound9080(t, r, meshv1alpha1.MTLSStrict) })
	for _, mode := range []meshv1alpha1.MTLSMode{meshv1alpha1.MTLSPermissive, meshv1alpha1.MTLSStrict} {
		start := time.Now()
		setMTLS(t, mode)
		got := s.vmADS.await(t, typeListener, 30*time.Second, func(r response) error { return inbound9080(t, r, mode) })
		measure(t, "MeshControlPlane security.mtls=%s reached the VM's inbound listener in %s", mode, got.at.Sub(start).Round(time.Millisecond))
	}
}

// inbound9080 checks the VM's inbound filter chains for port 9080: STRICT
// has only TLS chains that require a client certificate; PERMISSIVE also
// accepts plaintext.
func inbound9080(t *testing.T, r response, mode meshv1alpha1.MTLSMode) error {
	for _, l := range listeners(t, r) {
		if l.Name != "virtualInbound" {
			continue
		}
		var tlsChains, plainChains int
		for _, fc := range l.FilterChains {
			if fc.GetFilterChainMatch().GetDestinationPort().GetValue() != 9080 {
				continue
			}
			switch fc.GetFilterChainMatch().GetTransportProtocol() {
			case "tls":
				if !requiresClientCert(t, fc) {
					return fmt.Errorf("a TLS chain for 9080 does not require a client certificate")
				}
				tlsChains++
			default:
				plainChains++
			}
		}
		switch {
		case tlsChains == 0:
			return fmt.Errorf("no mTLS filter chain for 9080")
		case mode == meshv1alpha1.MTLSStrict && plainChains > 0:
			return fmt.Errorf("%s: %d plaintext filter chains for 9080", mode, plainChains)
		case mode == meshv1alpha1.MTLSPermissive && plainChains == 0:
			return fmt.Errorf("%s: no plaintext filter chain for 9080", mode)
		}
		return nil
	}
	return fmt.Errorf("no virtualInbound listener")
}

func requiresClientCert(t *testing.T, fc *listenerv3.FilterChain) bool {
	ctx := &tlsv3.DownstreamTlsContext{}
	if fc.GetTransportSocket().GetTypedConfig().UnmarshalTo(ctx) != nil {
		return false
	}
	return ctx.GetRequireClientCertificate().GetValue()
}
