// Package mcpbuilder builds MeshControlPlanes for tests:
//
//	mcpbuilder.Make("basic", "istio-system").MTLS(meshv1alpha1.MTLSStrict).Ingress().Obj()
package mcpbuilder

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
)

// Builder wraps a MeshControlPlane under construction.
type Builder struct{ mcp meshv1alpha1.MeshControlPlane }

// Make starts a MeshControlPlane with the values the API server would default
// (so pure renderers see what the controller sees).
func Make(name, namespace string) *Builder {
	return &Builder{mcp: meshv1alpha1.MeshControlPlane{
		TypeMeta:   metav1.TypeMeta{APIVersion: meshv1alpha1.GroupVersion.String(), Kind: "MeshControlPlane"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: meshv1alpha1.MeshControlPlaneSpec{
			Version:               "1.30.0",
			ClusterID:             "Kubernetes",
			ClusterDomain:         "cluster.local",
			Discovery:             meshv1alpha1.DiscoverySpec{Replicas: 1},
			Proxy:                 meshv1alpha1.ProxySpec{LogLevel: "warning"},
			Security:              meshv1alpha1.SecuritySpec{MTLS: meshv1alpha1.MTLSPermissive, TrustDomain: "cluster.local"},
			OutboundTrafficPolicy: "ALLOW_ANY",
		},
	}}
}

// Obj returns a copy of the MeshControlPlane.
func (b *Builder) Obj() *meshv1alpha1.MeshControlPlane { return b.mcp.DeepCopy() }

// ClusterDomain sets spec.clusterDomain.
func (b *Builder) ClusterDomain(d string) *Builder { b.mcp.Spec.ClusterDomain = d; return b }

// Revision sets spec.revision.
func (b *Builder) Revision(r string) *Builder { b.mcp.Spec.Revision = r; return b }

// MTLS sets the mTLS mode.
func (b *Builder) MTLS(m meshv1alpha1.MTLSMode) *Builder { b.mcp.Spec.Security.MTLS = m; return b }

// Ingress enables the ingress gateway with a ClusterIP Service and, when
// given, these ports.
func (b *Builder) Ingress(ports ...meshv1alpha1.GatewayPort) *Builder {
	b.mcp.Spec.Gateways.Ingress = meshv1alpha1.IngressGatewaySpec{Enabled: true, ServiceType: corev1.ServiceTypeClusterIP, Ports: ports}
	return b
}

// Images sets spec.images.
func (b *Builder) Images(i meshv1alpha1.ImagesSpec) *Builder { b.mcp.Spec.Images = i; return b }

// Replicas sets istiod's replicas.
func (b *Builder) Replicas(n int32) *Builder { b.mcp.Spec.Discovery.Replicas = n; return b }

// AccessLog sets the access log file.
func (b *Builder) AccessLog(f string) *Builder { b.mcp.Spec.Discovery.AccessLogFile = f; return b }

// HoldApplication sets proxy.holdApplicationUntilProxyStarts.
func (b *Builder) HoldApplication() *Builder {
	b.mcp.Spec.Proxy.HoldApplicationUntilProxyStarts = true
	return b
}

// Outbound sets the outbound traffic policy.
func (b *Builder) Outbound(p string) *Builder { b.mcp.Spec.OutboundTrafficPolicy = p; return b }

// Addons enables the named addons (prometheus, grafana, kiali, tracing) with
// the operator's images.
func (b *Builder) Addons(names ...string) *Builder {
	for _, n := range names {
		*b.addon(n) = meshv1alpha1.AddonSpec{Enabled: true}
	}
	return b
}

// AddonImage enables an addon with an image.
func (b *Builder) AddonImage(name, image string) *Builder {
	*b.addon(name) = meshv1alpha1.AddonSpec{Enabled: true, Image: image}
	return b
}

// AddonAddress enables an external addon.
func (b *Builder) AddonAddress(name, address string) *Builder {
	*b.addon(name) = meshv1alpha1.AddonSpec{Enabled: true, Address: address}
	return b
}

func (b *Builder) addon(name string) *meshv1alpha1.AddonSpec {
	switch name {
	case "prometheus":
		return &b.mcp.Spec.Addons.Prometheus
	case "grafana":
		return &b.mcp.Spec.Addons.Grafana
	case "kiali":
		return &b.mcp.Spec.Addons.Kiali
	case "tracing":
		return &b.mcp.Spec.Addons.Tracing
	}
	panic("mcpbuilder: unknown addon " + name)
}

// Members lists member namespaces.
func (b *Builder) Members(ns ...string) *Builder { b.mcp.Spec.Members.Namespaces = ns; return b }

// MemberSelector selects member namespaces by labels.
func (b *Builder) MemberSelector(labels map[string]string) *Builder {
	b.mcp.Spec.Members.Selector = &metav1.LabelSelector{MatchLabels: labels}
	return b
}
