package injection

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func sample() Settings {
	return Settings{
		ControlPlaneNamespace: "istio-system", ControlPlaneName: "basic",
		ProxyImage: "docker.io/istio/proxyv2:1.30.0", ProxyLogLevel: "warning",
		DiscoveryAddress: "istiod.istio-system.svc:15012", ClusterID: "Kubernetes",
		TrustDomain: "cluster.local", RootCertConfigMap: "istio-ca-root-cert",
		ProxyUID: 1337, ProxyGID: 1337, InboundCapturePort: 15006, OutboundCapturePort: 15001,
		IncludeOutboundIPRanges: []string{"*"},
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	s := sample()
	cm, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if cm.Immutable == nil || !*cm.Immutable {
		t.Errorf("snapshot ConfigMap must be immutable")
	}
	if cm.Name != "basic-injection-"+s.Hash() || cm.Namespace != "istio-system" {
		t.Errorf("snapshot name = %s/%s", cm.Namespace, cm.Name)
	}
	got, err := FromSnapshot(cm)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(s, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestHashChangesWithSettings(t *testing.T) {
	a, b := sample(), sample()
	if a.Hash() != b.Hash() {
		t.Fatalf("equal settings hash differently")
	}
	b.HoldApplicationUntilProxyStarts = true
	if a.Hash() == b.Hash() {
		t.Errorf("different settings hash the same: %s", a.Hash())
	}
}

func TestFromSnapshotErrors(t *testing.T) {
	cm, _ := sample().Snapshot()
	delete(cm.Data, DataKey)
	if _, err := FromSnapshot(cm); err == nil {
		t.Errorf("missing key: want error")
	}
	cm.Data = map[string]string{DataKey: "{"}
	if _, err := FromSnapshot(cm); err == nil {
		t.Errorf("bad JSON: want error")
	}
}
