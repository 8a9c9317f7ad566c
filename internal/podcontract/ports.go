package podcontract

// The mesh proxy's ports (Istio's sidecar contract).
const (
	// InboundCapturePort receives captured inbound TCP (Istio's 15006).
	InboundCapturePort = 15006
	// OutboundCapturePort receives captured outbound TCP (Istio's 15001).
	OutboundCapturePort = 15001
	// ProxyAgentPort is pilot-agent's port: merged metrics, /quitquitquit
	// and application probes.
	ProxyAgentPort = 15020
	// ProxyHealthPort serves the proxy's readiness (/healthz/ready).
	ProxyHealthPort = 15021
	// ProxyPromPort is Envoy's Prometheus endpoint.
	ProxyPromPort = 15090
	// ProxyTunnelPort is the HBONE tunnel port, never captured inbound.
	ProxyTunnelPort = 15008
)

// DefaultProxyAdminAddr is where compute posts /quitquitquit so a pod whose
// VM stopped can complete.
const DefaultProxyAdminAddr = "127.0.0.1:15020"

// ReservedMeshPorts are the proxy's own ports: never DNATed into the VM and
// never allowed as VM ports. The API's CEL rules and
// meshv1alpha1.ReservedProxyPorts list the same ports; a test keeps them equal.
var ReservedMeshPorts = []uint16{15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090}

// AlwaysExcludedInboundPorts are never sent to the inbound capture port:
// the tunnel port, Envoy's metrics, the health port and the agent port.
var AlwaysExcludedInboundPorts = []uint16{ProxyTunnelPort, ProxyPromPort, ProxyHealthPort, ProxyAgentPort}
