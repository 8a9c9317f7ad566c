package istio

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// edsEndpoint is what a client proxy learns of one endpoint.
type edsEndpoint struct {
	port    uint32
	health  corev3.HealthStatus
	tlsMode string // istio: the proxy originates Istio mTLS to it
}

// edsClusters maps each cluster in an EDS response to its endpoints by IP.
func edsClusters(t *testing.T, r response) map[string]map[string]edsEndpoint {
	out := map[string]map[string]edsEndpoint{}
	for _, cla := range loadAssignments(t, r) {
		eps := map[string]edsEndpoint{}
		for _, le := range cla.Endpoints {
			for _, lb := range le.LbEndpoints {
				sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
				md := lb.GetMetadata().GetFilterMetadata()["envoy.transport_socket_match"]
				eps[sa.GetAddress()] = edsEndpoint{port: sa.GetPortValue(), health: lb.GetHealthStatus(),
					tlsMode: md.GetFields()["tlsMode"].GetStringValue()}
			}
		}
		out[cla.ClusterName] = eps
	}
	return out
}

// edsEndpoints are the endpoints of one cluster (nil when the response does
// not carry it).
func edsEndpoints(t *testing.T, r response, cluster string) map[string]edsEndpoint {
	return edsClusters(t, r)[cluster]
}

// kubectlQuiet runs kubectl and returns its trimmed output ("" on error).
func kubectlQuiet(args ...string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}
