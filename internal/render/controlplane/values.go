// Package controlplane renders the objects of a MeshControlPlane: istiod, its
// RBAC and mesh config, the ingress gateway, the addons and the injection
// settings. Every function here is pure: it takes resolved Values and returns
// objects; nothing is looked up, so one golden file per scenario pins the
// output.
package controlplane

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/config"
)

// Fixed values of the mesh data plane.
const (
	// RootCertConfigMap is the ConfigMap istiod writes into every member
	// namespace with the mesh root certificate; proxies mount it.
	RootCertConfigMap = "istio-ca-root-cert"
	// RootCertKey is the key of the root certificate (PEM) in RootCertConfigMap.
	RootCertKey = "root-cert.pem"
	// SelfSignedCASecret is where istiod keeps the CA it creates itself (key
	// ca-cert.pem) when no plug-in CA (CACertsSecret, key root-cert.pem) is
	// given; both live in the control-plane namespace.
	SelfSignedCASecret = "istio-ca-secret"
	CACertsSecret      = "cacerts"
	ProxyUID           = int64(1337)
	ProxyGID           = int64(1337)
	InboundCapture     = int32(15006)
	OutboundCapture    = int32(15001)

	// Labels on everything rendered.
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	ManagedByValue    = "virtmesh-operator"
	LabelControlPlane = "mesh.virtmesh.io/control-plane"
	// LabelOwnerNamespace and LabelOwnerName mark cluster-scoped objects, which
	// cannot carry an ownerReference to a namespaced MeshControlPlane; the
	// finalizer deletes by them.
	LabelOwnerNamespace = "mesh.virtmesh.io/owner-namespace"
	LabelOwnerName      = "mesh.virtmesh.io/owner-name"
)

// Component names used in status.readiness.
const (
	ComponentIstiod     = "istiod"
	ComponentIngress    = "ingressgateway"
	ComponentPrometheus = "prometheus"
	ComponentGrafana    = "grafana"
	ComponentKiali      = "kiali"
	ComponentTracing    = "tracing"
)

// Addon is a resolved addon: off, deployed from Image, or external at Address.
type Addon struct {
	Enabled bool
	Image   string
	Address string
}

// Deployed reports whether the operator runs the addon itself.
func (a Addon) Deployed() bool { return a.Enabled && a.Address == "" && a.Image != "" }

// External reports whether the addon runs elsewhere.
func (a Addon) External() bool { return a.Enabled && a.Address != "" }

// Values are the fully resolved inputs of every renderer.
type Values struct {
	Namespace string
	Name      string
	Revision  string
	Version   string
	ClusterID string
	// ClusterDomain is the cluster's DNS domain (cluster.local).
	ClusterDomain string

	IstiodImage string
	ProxyImage  string

	DiscoveryReplicas  int32
	DiscoveryResources corev1.ResourceRequirements
	AccessLogFile      string

	Proxy meshv1alpha1.ProxySpec

	MTLS         meshv1alpha1.MTLSMode
	TrustDomain  string
	OutboundMode string
	Ingress      bool
	IngressType  corev1.ServiceType
	IngressPorts []meshv1alpha1.GatewayPort
	Prometheus   Addon
	Grafana      Addon
	Kiali        Addon
	Tracing      Addon
}

// Problem is a spec the renderers cannot honour, reported as InvalidSpec.
type Problem struct {
	Component string
	Message   string
}

func (p Problem) Error() string { return p.Component + ": " + p.Message }

// Resolve turns a MeshControlPlane (with API-server defaults applied) and the
// operator's images into Values. Addons that are enabled but have neither an
// image (spec or operator environment) nor an address are disabled in the
// returned Values and reported as Problems; everything else still renders.
func Resolve(mcp *meshv1alpha1.MeshControlPlane, images config.Images) (Values, []Problem) {
	s := mcp.Spec
	var problems []Problem
	hub := firstNonEmpty(s.Images.Hub, images.Hub)
	tag := firstNonEmpty(s.Images.Tag, s.Version)
	v := Values{
		Namespace:          mcp.Namespace,
		Name:               mcp.Name,
		Revision:           s.Revision,
		Version:            s.Version,
		ClusterID:          firstNonEmpty(s.ClusterID, "Kubernetes"),
		ClusterDomain:      firstNonEmpty(s.ClusterDomain, "cluster.local"),
		DiscoveryReplicas:  s.Discovery.Replicas,
		DiscoveryResources: s.Discovery.Resources,
		AccessLogFile:      s.Discovery.AccessLogFile,
		Proxy:              s.Proxy,
		MTLS:               s.Security.MTLS,
		TrustDomain:        firstNonEmpty(s.Security.TrustDomain, "cluster.local"),
		OutboundMode:       firstNonEmpty(s.OutboundTrafficPolicy, "ALLOW_ANY"),
		Ingress:            s.Gateways.Ingress.Enabled,
		IngressType:        s.Gateways.Ingress.ServiceType,
		IngressPorts:       s.Gateways.Ingress.Ports,
	}
	if v.MTLS == "" {
		v.MTLS = meshv1alpha1.MTLSPermissive
	}
	if v.DiscoveryReplicas < 1 {
		v.DiscoveryReplicas = 1
	}
	if v.IngressType == "" {
		v.IngressType = corev1.ServiceTypeLoadBalancer
	}
	if len(v.IngressPorts) == 0 {
		v.IngressPorts = []meshv1alpha1.GatewayPort{{Name: "http2", Port: 80, TargetPort: 8080}, {Name: "https", Port: 443, TargetPort: 8443}}
	}
	v.IstiodImage = firstNonEmpty(s.Images.Istiod, operandImage(images.Istiod, s))
	v.ProxyImage = firstNonEmpty(s.Images.Proxy, operandImage(images.Proxy, s))
	if v.IstiodImage == "" || v.ProxyImage == "" {
		if hub == "" || tag == "" {
			problems = append(problems, Problem{ComponentIstiod, "no image: set spec.images (hub and tag, or istiod and proxy) or the operator's MESH_HUB"})
		}
		if v.IstiodImage == "" {
			v.IstiodImage = image(hub, "pilot", tag)
		}
		if v.ProxyImage == "" {
			v.ProxyImage = image(hub, "proxyv2", tag)
		}
	}
	addon := func(name string, spec meshv1alpha1.AddonSpec, envImage, env string) Addon {
		a := Addon{Enabled: spec.Enabled, Address: spec.Address, Image: firstNonEmpty(spec.Image, envImage)}
		if a.Enabled && a.Address == "" && a.Image == "" {
			problems = append(problems, Problem{name, fmt.Sprintf("enabled but has no image: set spec.addons.%s.image or .address, or %s in the operator's environment", name, env)})
			return Addon{}
		}
		if !a.Enabled || a.Address != "" {
			a.Image = ""
		}
		return a
	}
	v.Prometheus = addon(ComponentPrometheus, s.Addons.Prometheus, images.Prometheus, "RELATED_IMAGE_PROMETHEUS")
	v.Grafana = addon(ComponentGrafana, s.Addons.Grafana, images.Grafana, "RELATED_IMAGE_GRAFANA")
	v.Kiali = addon(ComponentKiali, s.Addons.Kiali, images.Kiali, "RELATED_IMAGE_KIALI")
	v.Tracing = addon(ComponentTracing, s.Addons.Tracing, images.Jaeger, "RELATED_IMAGE_JAEGER")
	return v, problems
}

// operandImage is the operator's default image (RELATED_IMAGE_*) when the spec
// does not ask for another build: no spec.images.hub/tag, and the image is the
// spec's version (its tag equals spec.version) or pinned by digest (a mirror;
// its version cannot be read, so it is trusted). Otherwise "" and the image is
// <hub>/<name>:<tag>.
func operandImage(envImage string, s meshv1alpha1.MeshControlPlaneSpec) string {
	if envImage == "" || s.Images.Hub != "" || s.Images.Tag != "" {
		return ""
	}
	if strings.Contains(envImage, "@sha256:") || strings.HasSuffix(envImage, ":"+s.Version) {
		return envImage
	}
	return ""
}

func image(hub, name, tag string) string {
	if hub == "" || tag == "" {
		return ""
	}
	return strings.TrimSuffix(hub, "/") + "/" + name + ":" + tag
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

// suffixed appends "-<revision>" when a revision is set.
func (v Values) suffixed(base string) string {
	if v.Revision == "" {
		return base
	}
	return base + "-" + v.Revision
}

// revLabel is the istio.io/rev value: the revision or "default".
func (v Values) revLabel() string { return firstNonEmpty(v.Revision, "default") }

// IstiodName is the name of istiod's Deployment, Service and ServiceAccount.
func (v Values) IstiodName() string { return v.suffixed("istiod") }

// MeshConfigName is the mesh config ConfigMap istiod reads.
func (v Values) MeshConfigName() string { return v.suffixed("istio") }

// IngressName is the ingress gateway's name.
func (v Values) IngressName() string { return v.suffixed("istio-ingressgateway") }

// ClusterScopedName names a cluster-scoped object uniquely per control plane.
func (v Values) ClusterScopedName(base string) string {
	return v.suffixed(base) + "-" + v.Namespace
}

// DiscoveryAddress is istiod's xDS address.
func (v Values) DiscoveryAddress() string {
	return fmt.Sprintf("%s.%s.svc:15012", v.IstiodName(), v.Namespace)
}

// TracingAddress is the zipkin address proxies send spans to, "" when off.
func (v Values) TracingAddress() string {
	switch {
	case v.Tracing.External():
		return hostPort(v.Tracing.Address)
	case v.Tracing.Deployed():
		return fmt.Sprintf("%s.%s.svc:9411", v.suffixed("zipkin"), v.Namespace)
	}
	return ""
}

// hostPort strips a scheme and path from an address.
func hostPort(addr string) string {
	addr = strings.TrimPrefix(strings.TrimPrefix(addr, "http://"), "https://")
	if i := strings.Index(addr, "/"); i >= 0 {
		addr = addr[:i]
	}
	return addr
}

// url gives an addon's URL: its address (with http:// added when missing) or
// the in-cluster Service of the deployed addon.
func (v Values) url(a Addon, service string, port int) string {
	if a.External() {
		if strings.HasPrefix(a.Address, "http://") || strings.HasPrefix(a.Address, "https://") {
			return a.Address
		}
		return "http://" + a.Address
	}
	if a.Deployed() {
		return fmt.Sprintf("http://%s.%s.svc:%d", v.suffixed(service), v.Namespace, port)
	}
	return ""
}

// Default proxy resources when spec.proxy.resources is empty.
func defaultProxyResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")},
	}
}

func defaultIstiodResources() corev1.ResourceRequirements {
	return corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
	}
}

// ProxyResources are the sidecar/gateway resources.
func (v Values) ProxyResources() corev1.ResourceRequirements {
	if len(v.Proxy.Resources.Requests) == 0 && len(v.Proxy.Resources.Limits) == 0 {
		return defaultProxyResources()
	}
	return v.Proxy.Resources
}

func (v Values) proxyLogLevel() string { return firstNonEmpty(v.Proxy.LogLevel, "warning") }
