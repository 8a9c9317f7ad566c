package istio

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"virtmesh.io/virtmesh/internal/logtail"
)

const typeSecret = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// gatewayVolumes are the emptyDirs Istio's gateway template gives the agent
// for its SDS socket and credentials.
var gatewayVolumes = []string{"workload-socket", "credential-socket", "workload-certs"}

func (s *suite) gateway(t *testing.T) {
	pod := runningPod(t, meshNS, "app=istio-ingressgateway")
	wantSAN := "spiffe://cluster.local/ns/istio-system/sa/istio-ingressgateway"

	// Proxyless (DISABLE_ENVOY), as the issue asks: the gateway's identity.
	proxyless := startAgent(t, agentSpec{pod: pod, container: "istio-proxy", istiod: s.istiod.Istiod, suffix: "proxyless"})
	cert, _ := proxyless.workloadCert(t, 60*time.Second)
	if len(cert.URIs) != 1 || cert.URIs[0].String() != wantSAN {
		t.Errorf("gateway certificate SANs %v, want %s", cert.URIs, wantSAN)
	}
	proxyless.stop()

	// With an Envoy (the stand-in), the agent serves Envoy its certificate
	// over SDS on a socket it creates, as uid 1337 with a read-only root
	// file system, in the workload-socket volume.
	sds := startAgent(t, agentSpec{pod: pod, container: "istio-proxy", istiod: s.istiod.Istiod, envoy: true, suffix: "sds"})
	socket := filepath.Join(sds.dir, "var/run/secrets/workload-spiffe-uds/socket")
	eventually(t, 60*time.Second, "the gateway agent's SDS socket "+socket, func() error {
		select {
		case <-sds.done:
			t.Fatalf("the gateway's pilot-agent exited:\n%s", logtail.Last(sds.log.String(), 30))
		default:
		}
		_, err := os.Stat(socket)
		return err
	})
	chain := fetchSDS(t, filepath.Join(shortDir(t, filepath.Dir(socket)), "socket"), "router~"+pod.Status.PodIP+"~"+pod.Name+"."+pod.Namespace+"~"+pod.Namespace+".svc.cluster.local")
	if c := leaf(t, chain); len(c.URIs) != 1 || c.URIs[0].String() != wantSAN {
		t.Errorf("SDS certificate SANs %v, want %s", c.URIs, wantSAN)
	}
	sds.stop()

	// Without those volumes (what VirtMesh rendered before) the agent cannot
	// create its socket: nothing else is writable.
	broken := startAgent(t, agentSpec{pod: pod, container: "istio-proxy", istiod: s.istiod.Istiod, envoy: true, suffix: "no-volumes", dropMounts: gatewayVolumes})
	eventually(t, 60*time.Second, "the agent without "+fmt.Sprint(gatewayVolumes)+" fails to create its SDS socket", func() error {
		log := broken.log.String()
		if contains(log, "mkdir var/run/secrets/workload-spiffe-uds: permission denied") && contains(log, "failed to set up UDS") {
			return nil
		}
		return fmt.Errorf("no such failure in its log yet:\n%s", logtail.Last(log, 5))
	})
	if _, err := os.Stat(filepath.Join(broken.dir, "var/run/secrets/workload-spiffe-uds/socket")); err == nil {
		t.Errorf("without %v the gateway's agent still created its SDS socket", gatewayVolumes)
	}
	broken.stop()
}

// fetchSDS asks the agent's SDS server for the workload certificate
// ("default"), as Envoy does, and returns its chain (PEM).
func fetchSDS(t *testing.T, socket, nodeID string) []byte {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := secretv3.NewSecretDiscoveryServiceClient(conn).StreamSecrets(ctx)
	if err != nil {
		t.Fatalf("SDS stream on %s: %v", socket, err)
	}
	if err := stream.Send(&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: nodeID}, TypeUrl: typeSecret, ResourceNames: []string{"default"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("SDS response: %v", err)
	}
	for _, r := range resp.Resources {
		sec := &tlsv3.Secret{}
		if err := r.UnmarshalTo(sec); err != nil {
			t.Fatal(err)
		}
		if b := sec.GetTlsCertificate().GetCertificateChain().GetInlineBytes(); sec.Name == "default" && len(b) > 0 {
			return b
		}
	}
	t.Fatalf("SDS response has no certificate for default: %v", resp)
	return nil
}
