package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MeshControlPlaneSpec declares an Istio-compatible control plane with typed
// settings (no free-form values). Defaults are applied by the API server, so
// `kubectl get -o yaml` shows what is in force.
type MeshControlPlaneSpec struct {
	// version of the control plane and proxy, e.g. 1.30.0. Images default to
	// <hub>/<component>:<tag> with tag = version. VirtMesh's own tests run
	// Istio 1.31-dev (docs/istio.md); istiod serves proxies one minor
	// version older, so 1.30 proxies work with it.
	// +kubebuilder:validation:Pattern=`^[0-9]+\.[0-9]+\.[0-9]+$`
	// +kubebuilder:default="1.30.0"
	// +optional
	Version string `json:"version,omitempty"`

	// revision makes members, when set, use `istio.io/rev=<revision>` instead of
	// `istio-injection=enabled`, so two control planes can run side by side.
	// Immutable.
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="revision is immutable: create a new MeshControlPlane to move members to another revision"
	// +optional
	Revision string `json:"revision,omitempty"`

	// clusterID names this cluster in the mesh. Defaults to Kubernetes.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`
	// +kubebuilder:default="Kubernetes"
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// clusterDomain is the cluster's DNS domain (the kubelet's
	// --cluster-domain): istiod's and the proxies' --domain, and the suffix of
	// every service host name in the mesh (details.bookinfo.svc.<clusterDomain>).
	// Defaults to cluster.local.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:default="cluster.local"
	// +optional
	ClusterDomain string `json:"clusterDomain,omitempty"`

	// images of the components.
	// +optional
	Images ImagesSpec `json:"images,omitempty"`

	// discovery configures istiod (Pilot, Citadel and Galley in one).
	// +kubebuilder:default={}
	// +optional
	Discovery DiscoverySpec `json:"discovery,omitzero"`

	// proxy configures the sidecar proxies and the traffic they capture.
	// +kubebuilder:default={}
	// +optional
	Proxy ProxySpec `json:"proxy,omitzero"`

	// security configures mutual TLS and identities.
	// +kubebuilder:default={}
	// +optional
	Security SecuritySpec `json:"security,omitzero"`

	// gateways configures the ingress gateway.
	// +optional
	Gateways GatewaysSpec `json:"gateways,omitempty"`

	// members selects the namespaces whose workloads join the mesh.
	// +optional
	Members MembersSpec `json:"members,omitempty"`

	// addons configures Prometheus, Grafana, Kiali and tracing.
	// +optional
	Addons AddonsSpec `json:"addons,omitempty"`

	// outboundTrafficPolicy says whether proxies pass traffic to hosts the mesh
	// does not know (ALLOW_ANY) or block it (REGISTRY_ONLY).
	// +kubebuilder:validation:Enum=ALLOW_ANY;REGISTRY_ONLY
	// +kubebuilder:default=ALLOW_ANY
	// +optional
	OutboundTrafficPolicy string `json:"outboundTrafficPolicy,omitempty"`
}

// ImagesSpec picks the images of the components.
type ImagesSpec struct {
	// hub is the registry and repository prefix, e.g. docker.io/istio.
	// Defaults to the operator's configured hub.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Hub string `json:"hub,omitempty"`
	// tag of the component images. Defaults to spec.version.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	// +optional
	Tag string `json:"tag,omitempty"`
	// istiod overrides the discovery image.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Istiod string `json:"istiod,omitempty"`
	// proxy overrides the proxy image (sidecars and gateways).
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Proxy string `json:"proxy,omitempty"`
}

// DiscoverySpec configures istiod.
type DiscoverySpec struct {
	// replicas of istiod. A PodDisruptionBudget is created when more than 1.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	// +kubebuilder:default=1
	// +optional
	Replicas int32 `json:"replicas,omitempty"`
	// resources of istiod.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// accessLogFile is where istiod tells proxies to write access logs, e.g.
	// /dev/stdout; empty disables access logs.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	AccessLogFile string `json:"accessLogFile,omitempty"`
}

// ProxySpec configures sidecar proxies and their traffic capture.
type ProxySpec struct {
	// resources of each proxy sidecar. Defaults: requests 100m/128Mi, limits 2/1Gi.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`

	// logLevel of the proxy.
	// +kubebuilder:validation:Enum=trace;debug;info;warning;error;critical;off
	// +kubebuilder:default=warning
	// +optional
	LogLevel string `json:"logLevel,omitempty"`

	// holdApplicationUntilProxyStarts delays the application (the VM) until the
	// proxy is ready, so its first connections are not lost.
	// +optional
	HoldApplicationUntilProxyStarts bool `json:"holdApplicationUntilProxyStarts,omitempty"`

	// includeOutboundIPRanges are the destinations whose outbound traffic is
	// captured: ["*"] (the default) for all, or a list of CIDRs.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, c == '*' || isCIDR(c))",message="includeOutboundIPRanges entries must be CIDRs such as 10.96.0.0/12, or a single '*' for all"
	// +kubebuilder:validation:XValidation:rule="!self.exists(c, c == '*') || self.size() == 1",message="'*' in includeOutboundIPRanges already means all destinations: list it alone"
	// +listType=atomic
	// +optional
	IncludeOutboundIPRanges []string `json:"includeOutboundIPRanges,omitempty"`

	// excludeOutboundIPRanges are destinations whose outbound traffic bypasses
	// the proxy.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=43
	// +kubebuilder:validation:XValidation:rule="self.all(c, isCIDR(c))",message="excludeOutboundIPRanges entries must be CIDRs such as 169.254.169.254/32"
	// +listType=atomic
	// +optional
	ExcludeOutboundIPRanges []string `json:"excludeOutboundIPRanges,omitempty"`

	// excludeInboundPorts are inbound ports that bypass the proxy.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	// +listType=set
	// +optional
	ExcludeInboundPorts []int32 `json:"excludeInboundPorts,omitempty"`

	// excludeOutboundPorts are outbound destination ports that bypass the proxy.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Minimum=1
	// +kubebuilder:validation:items:Maximum=65535
	// +listType=set
	// +optional
	ExcludeOutboundPorts []int32 `json:"excludeOutboundPorts,omitempty"`
}

// MTLSMode is the mesh-wide mutual TLS mode.
// +kubebuilder:validation:Enum=STRICT;PERMISSIVE;DISABLE
type MTLSMode string

// Mutual TLS modes.
const (
	MTLSStrict     MTLSMode = "STRICT"
	MTLSPermissive MTLSMode = "PERMISSIVE"
	MTLSDisable    MTLSMode = "DISABLE"
)

// SecuritySpec configures mutual TLS and workload identities.
type SecuritySpec struct {
	// mtls is the mesh-wide mutual TLS mode.
	// +kubebuilder:default=PERMISSIVE
	// +optional
	MTLS MTLSMode `json:"mtls,omitempty"`

	// trustDomain of workload identities (spiffe://<trustDomain>/ns/...).
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:default="cluster.local"
	// +optional
	TrustDomain string `json:"trustDomain,omitempty"`
}

// GatewaysSpec configures gateways.
type GatewaysSpec struct {
	// ingress is the ingress gateway.
	// +optional
	Ingress IngressGatewaySpec `json:"ingress,omitempty"`
}

// IngressGatewaySpec configures the ingress gateway.
type IngressGatewaySpec struct {
	// enabled deploys the ingress gateway.
	// +optional
	Enabled bool `json:"enabled,omitempty"`

	// serviceType of the gateway's Service.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +kubebuilder:default=LoadBalancer
	// +optional
	ServiceType corev1.ServiceType `json:"serviceType,omitempty"`

	// ports of the gateway's Service. Defaults to http2 80→8080 and https 443→8443.
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.port == x.port))",message="gateway ports must be unique: remove the duplicate port"
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="gateway port names must be unique: rename the duplicate port"
	// +listType=atomic
	// +optional
	Ports []GatewayPort `json:"ports,omitempty"`
}

// GatewayPort is a port of the gateway's Service.
// +kubebuilder:validation:XValidation:rule="!has(self.targetPort) || !(self.targetPort in [15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090])",message="targetPort must not be one of the proxy's reserved ports (15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090)",fieldPath=".targetPort"
type GatewayPort struct {
	// name of the port, e.g. http2.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name,omitempty"`
	// port of the Service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port,omitempty"`
	// targetPort the gateway listens on. Defaults to Port+8000 for ports below
	// 1024 (the gateway runs without privileges) and to Port otherwise.
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	TargetPort int32 `json:"targetPort,omitempty"`
}

// MembersSpec selects member namespaces. A namespace is a member when it is
// listed or matches the selector. The control plane's own namespace and
// kube-system, kube-*, openshift-* are never members.
type MembersSpec struct {
	// namespaces that are members.
	// +kubebuilder:validation:MaxItems=1024
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self.all(n, !n.startsWith('kube-') && !n.startsWith('openshift-') && n != 'kube-system')",message="kube-* and openshift-* namespaces cannot be mesh members: remove them from members.namespaces"
	// +listType=set
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`

	// selector selects member namespaces by label.
	// +optional
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// AddonsSpec configures observability addons.
type AddonsSpec struct {
	// prometheus scrapes istiod, the proxies (15090) and the operator.
	// +optional
	Prometheus AddonSpec `json:"prometheus,omitempty"`
	// grafana shows the mesh dashboards.
	// +optional
	Grafana AddonSpec `json:"grafana,omitempty"`
	// kiali shows the mesh graph.
	// +optional
	Kiali AddonSpec `json:"kiali,omitempty"`
	// tracing (Jaeger) receives the proxies' spans.
	// +optional
	Tracing AddonSpec `json:"tracing,omitempty"`
}

// AddonSpec enables an addon, either deployed by the operator (image) or
// already running elsewhere (address).
// +kubebuilder:validation:XValidation:rule="!(has(self.image) && has(self.address))",message="set either image (the operator deploys the addon) or address (an addon that already runs), not both"
// +kubebuilder:validation:XValidation:rule="!has(self.image) && !has(self.address) || self.enabled",message="image or address is set but the addon is not enabled: set enabled: true or remove them"
type AddonSpec struct {
	// enabled turns the addon on.
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// image overrides the addon's image when the operator deploys it.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`
	// address of an external addon, host:port or a URL, e.g.
	// http://prometheus.monitoring:9090. The operator deploys nothing then.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^(https?://)?[A-Za-z0-9.-]+(:[0-9]{1,5})?(/.*)?$')",message="address must be host:port or an http(s) URL, e.g. http://prometheus.monitoring:9090"
	// +optional
	Address string `json:"address,omitempty"`
}

// MeshControlPlaneStatus is what the operator observed.
type MeshControlPlaneStatus struct {
	// conditions are Reconciled and Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// readiness of the enabled components.
	// +optional
	Readiness ReadinessStatus `json:"readiness,omitempty"`

	// componentsReady is "<ready>/<enabled>", for kubectl's column.
	// +optional
	ComponentsReady string `json:"componentsReady,omitempty"`

	// members of the mesh.
	// +optional
	Members MembersStatus `json:"members,omitempty"`

	// injectionSnapshot names the immutable ConfigMap holding the proxy settings
	// that launcher pods are rendered from.
	// +optional
	InjectionSnapshot string `json:"injectionSnapshot,omitempty"`

	// version running.
	// +optional
	Version string `json:"version,omitempty"`
}

// ReadinessStatus lists components by readiness, as OSSM 2 shows them.
type ReadinessStatus struct {
	// components by readiness.
	// +optional
	Components ComponentReadiness `json:"components,omitempty"`
}

// ComponentReadiness lists component names by readiness.
type ComponentReadiness struct {
	// ready components.
	// +listType=atomic
	// +optional
	Ready []string `json:"ready,omitempty"`
	// unready components: deployed but not available.
	// +listType=atomic
	// +optional
	Unready []string `json:"unready,omitempty"`
	// pending components: not deployed yet.
	// +listType=atomic
	// +optional
	Pending []string `json:"pending,omitempty"`
}

// MembersStatus lists member namespaces by state.
type MembersStatus struct {
	// configured members carry the injection label.
	// +listType=atomic
	// +optional
	Configured []string `json:"configured,omitempty"`
	// pending members are selected but not labelled yet (e.g. the namespace
	// does not exist yet).
	// +listType=atomic
	// +optional
	Pending []string `json:"pending,omitempty"`
	// conflicted members are claimed by another MeshControlPlane.
	// +listType=atomic
	// +optional
	Conflicted []string `json:"conflicted,omitempty"`
}

// MeshControlPlane installs and runs a service-mesh control plane in its
// namespace and enrolls member namespaces.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mcp,categories=virtmesh
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="the MeshControlPlane name must be at most 63 characters: it is a label value on every object it renders"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Components",type=string,JSONPath=`.status.componentsReady`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type MeshControlPlane struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired control plane; every field has a default.
	// +kubebuilder:default={}
	// +optional
	Spec MeshControlPlaneSpec `json:"spec,omitzero"`
	// status is what the operator observed.
	// +optional
	Status MeshControlPlaneStatus `json:"status,omitzero"`
}

// MeshControlPlaneList is a list of MeshControlPlanes.
//
// +kubebuilder:object:root=true
type MeshControlPlaneList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MeshControlPlane `json:"items"`
}

func init() {
	knownTypes = append(knownTypes, &MeshControlPlane{}, &MeshControlPlaneList{})
}
