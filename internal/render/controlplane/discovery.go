package controlplane

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
)

// MeshConfigKey is the key of the mesh config in its ConfigMap.
const MeshConfigKey = "mesh"

// DefaultProxyConfig is the mesh's defaultConfig (a ProxyConfig, as JSON
// fields): istiod reads it from the mesh config, and the proxies get it in
// PROXY_CONFIG (pilot-agent does not read the mesh config itself).
func DefaultProxyConfig(v Values) map[string]any {
	c := map[string]any{
		"discoveryAddress":                v.DiscoveryAddress(),
		"holdApplicationUntilProxyStarts": v.Proxy.HoldApplicationUntilProxyStarts,
		"proxyMetadata":                   map[string]any{"ISTIO_META_CLUSTER_ID": v.ClusterID},
	}
	if addr := v.TracingAddress(); addr != "" {
		c["tracing"] = map[string]any{"sampling": 1.0, "zipkin": map[string]any{"address": addr}}
	}
	return c
}

// MeshConfig renders istiod's mesh config (the "mesh" key of ConfigMap
// istio[-<rev>], which istiod watches through the API) from the typed spec.
// Keys are sorted by the YAML encoder, so the output is stable.
func MeshConfig(v Values) (string, error) {
	mesh := map[string]any{
		"rootNamespace":         v.Namespace,
		"trustDomain":           v.TrustDomain,
		"outboundTrafficPolicy": map[string]any{"mode": v.OutboundMode},
		"defaultConfig":         DefaultProxyConfig(v),
		// DISABLE turns automatic mTLS off too; STRICT/PERMISSIVE are enforced
		// by the mesh-wide PeerAuthentication (see PeerAuthentication).
		"enableAutoMtls":        v.MTLS != meshv1alpha1.MTLSDisable,
		"enablePrometheusMerge": EnablePrometheusMerge,
		"enableTracing":         v.TracingAddress() != "",
	}
	if v.AccessLogFile != "" {
		mesh["accessLogFile"] = v.AccessLogFile
	}
	b, err := yaml.Marshal(mesh)
	if err != nil {
		return "", fmt.Errorf("encode mesh config: %w", err)
	}
	return string(b), nil
}

// EnablePrometheusMerge is the mesh config's enablePrometheusMerge: the
// proxies' agent serves the application's metrics merged with Envoy's on
// :15020/stats/prometheus, and pods say so in their prometheus.io/*
// annotations.
const EnablePrometheusMerge = true

// Discovery renders istiod: ServiceAccount, RBAC, mesh config, Deployment,
// Service and (replicas > 1) a PodDisruptionBudget.
func Discovery(v Values) ([]client.Object, error) {
	const app = "istiod"
	name := v.IstiodName()
	mesh, err := MeshConfig(v)
	if err != nil {
		return nil, err
	}
	crName := v.ClusterScopedName("istiod")
	gwName := v.ClusterScopedName("istiod-gateway-controller")
	objs := []client.Object{
		v.serviceAccount(name, app),
		v.clusterRole(crName, app, IstiodClusterRules()),
		v.clusterRoleBinding(crName, app, name),
		v.clusterRole(gwName, app, IstiodGatewayControllerRules()),
		v.clusterRoleBinding(gwName, app, name),
		v.role(name, app, IstiodNamespaceRules()),
		v.roleBinding(name, app, name),
		v.configMap(v.MeshConfigName(), app, map[string]string{MeshConfigKey: mesh}),
		istiodDeployment(v),
		v.service(name, app, corev1.ServiceTypeClusterIP, []corev1.ServicePort{
			tcpPort("grpc-xds", 15010, 15010),
			tcpPort("https-dns", 15012, 15012),
			tcpPort("https-webhook", 443, 15017),
			tcpPort("http-monitoring", 15014, 15014),
		}),
	}
	if v.DiscoveryReplicas > 1 {
		objs = append(objs, &policyv1.PodDisruptionBudget{
			TypeMeta: tmPDB, ObjectMeta: v.meta(name, app),
			Spec: policyv1.PodDisruptionBudgetSpec{
				MinAvailable: ptr(intstr.FromInt32(1)),
				Selector:     &metav1.LabelSelector{MatchLabels: v.selectorLabels(app)},
			},
		})
	}
	return objs, nil
}

// IstiodReadyPath and IstiodReadyPort are istiod's readiness endpoint: 200
// once its caches are synced (which needs list/watch on every kind it
// watches) and its xDS, CA and webhook servers listen.
const (
	IstiodReadyPath = "/ready"
	IstiodReadyPort = int32(8080)
)

// istiodDeployment is istiod as Istio's chart deploys it. istiod reads its
// mesh config from ConfigMap istio[-<rev>] through the API (no volume), so a
// change reaches it at once.
func istiodDeployment(v Values) *appsv1.Deployment {
	res := v.DiscoveryResources
	if len(res.Requests) == 0 && len(res.Limits) == 0 {
		res = defaultIstiodResources()
	}
	c := corev1.Container{
		Name:  "discovery",
		Image: v.IstiodImage,
		Args: []string{"discovery", "--monitoringAddr=:15014", "--log_output_level=default:info",
			"--domain", v.ClusterDomain, "--keepaliveMaxServerConnectionAge", "30m"},
		Ports: []corev1.ContainerPort{containerPort("http-debug", IstiodReadyPort), containerPort("grpc-xds", 15010),
			containerPort("https-dns", 15012), containerPort("http-monitoring", 15014), containerPort("https-webhooks", 15017)},
		Env: []corev1.EnvVar{
			{Name: "REVISION", Value: v.revLabel()},
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "SERVICE_ACCOUNT", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
			{Name: "CLUSTER_ID", Value: v.ClusterID},
			{Name: "ISTIOD_CUSTOM_HOST", Value: fmt.Sprintf("%s.%s.svc", v.IstiodName(), v.Namespace)},
			{Name: "PILOT_ENABLE_ANALYSIS", Value: "false"},
		},
		Resources: res,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: IstiodReadyPath, Port: intstr.FromInt32(IstiodReadyPort)}},
			InitialDelaySeconds: 1, PeriodSeconds: 3, TimeoutSeconds: 5,
		},
		SecurityContext: restrictedSecurityContext(),
		VolumeMounts: []corev1.VolumeMount{
			{Name: "istio-token", MountPath: "/var/run/secrets/tokens", ReadOnly: true},
			{Name: "local-certs", MountPath: "/var/run/secrets/istio-dns"},
			{Name: "cacerts", MountPath: "/etc/cacerts", ReadOnly: true},
		},
	}
	c.SecurityContext.ReadOnlyRootFilesystem = ptr(true)
	annotations := map[string]string{"prometheus.io/port": "15014", "prometheus.io/scrape": "true", "sidecar.istio.io/inject": "false"}
	return v.deployment(v.IstiodName(), "istiod", v.IstiodName(), v.DiscoveryReplicas, annotations, corev1.PodSpec{
		Containers: []corev1.Container{c},
		Volumes: []corev1.Volume{
			istioTokenVolume(),
			{Name: "local-certs", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
			// A plug-in CA (istio's cacerts Secret) when present; istiod
			// creates a self-signed one (Secret istio-ca-secret) otherwise.
			{Name: "cacerts", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: CACertsSecret, Optional: ptr(true)}}},
		},
	})
}

func istioTokenVolume() corev1.Volume {
	return corev1.Volume{Name: "istio-token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
			Audience: "istio-ca", ExpirationSeconds: ptr(int64(43200)), Path: "istio-token"}}},
	}}}
}

// PeerAuthenticationGVK is the kind of the mesh-wide mTLS policy.
var PeerAuthenticationGVK = struct{ Group, Version, Kind string }{"security.istio.io", "v1", "PeerAuthentication"}

// PeerAuthentication renders the mesh-wide mTLS policy istiod reads: a
// PeerAuthentication named "default" in the root namespace (the control-plane
// namespace). Istio's CRDs are not part of VirtMesh, so it is unstructured and
// the controller applies it only when the CRD is served.
func PeerAuthentication(v Values) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": PeerAuthenticationGVK.Group + "/" + PeerAuthenticationGVK.Version,
		"kind":       PeerAuthenticationGVK.Kind,
		"metadata": map[string]any{
			"name":      v.suffixed("default"),
			"namespace": v.Namespace,
		},
		"spec": map[string]any{"mtls": map[string]any{"mode": string(v.MTLS)}},
	}}
	labels := map[string]any{}
	for k, val := range v.labels("istiod") {
		labels[k] = val
	}
	_ = unstructured.SetNestedMap(u.Object, labels, "metadata", "labels")
	return u
}
