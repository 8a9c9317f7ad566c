package controlplane

import (
	"virtmesh.io/virtmesh/internal/injection"
)

// InjectionSettings are the proxy settings the VMI controller renders launcher
// pods from.
func InjectionSettings(v Values) injection.Settings {
	include := v.Proxy.IncludeOutboundIPRanges
	if len(include) == 0 {
		include = []string{"*"}
	}
	return injection.Settings{
		ControlPlaneNamespace:           v.Namespace,
		ControlPlaneName:                v.Name,
		Revision:                        v.Revision,
		ProxyImage:                      v.ProxyImage,
		ProxyResources:                  v.ProxyResources(),
		ProxyLogLevel:                   v.proxyLogLevel(),
		DiscoveryAddress:                v.DiscoveryAddress(),
		ClusterID:                       v.ClusterID,
		ClusterDomain:                   v.ClusterDomain,
		ProxyConfig:                     DefaultProxyConfig(v),
		EnablePrometheusMerge:           EnablePrometheusMerge,
		TrustDomain:                     v.TrustDomain,
		RootCertConfigMap:               RootCertConfigMap,
		ProxyUID:                        ProxyUID,
		ProxyGID:                        ProxyGID,
		InboundCapturePort:              InboundCapture,
		OutboundCapturePort:             OutboundCapture,
		IncludeOutboundIPRanges:         include,
		ExcludeOutboundIPRanges:         v.Proxy.ExcludeOutboundIPRanges,
		ExcludeInboundPorts:             v.Proxy.ExcludeInboundPorts,
		ExcludeOutboundPorts:            v.Proxy.ExcludeOutboundPorts,
		HoldApplicationUntilProxyStarts: v.Proxy.HoldApplicationUntilProxyStarts,
	}
}
