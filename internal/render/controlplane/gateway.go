package controlplane

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// IngressGateway renders the ingress gateway (nil when disabled): the proxy
// image in router mode with the mesh's defaultConfig as PROXY_CONFIG, its
// Service with the configured ports plus the status port, and a
// ServiceAccount/Role/RoleBinding to read its TLS secrets.
func IngressGateway(v Values) ([]client.Object, error) {
	if !v.Ingress {
		return nil, nil
	}
	const app = "istio-ingressgateway"
	name := v.IngressName()
	proxyConfig, err := json.Marshal(DefaultProxyConfig(v))
	if err != nil {
		return nil, fmt.Errorf("encode the gateway's PROXY_CONFIG: %w", err)
	}
	svcPorts := []corev1.ServicePort{tcpPort("status-port", 15021, 15021)}
	ctrPorts := []corev1.ContainerPort{containerPort("status-port", 15021), containerPort("http-envoy-prom", 15090)}
	for _, p := range v.IngressPorts {
		target := p.TargetPort
		if target == 0 {
			target = p.Port
		}
		svcPorts = append(svcPorts, tcpPort(p.Name, p.Port, target))
		ctrPorts = append(ctrPorts, containerPort(truncName(p.Name), target))
	}
	c := corev1.Container{
		Name:  "istio-proxy",
		Image: v.ProxyImage,
		Args: []string{"proxy", "router", "--domain", "$(POD_NAMESPACE).svc." + v.ClusterDomain,
			"--proxyLogLevel=" + v.proxyLogLevel(), "--log_output_level=default:info"},
		Ports: ctrPorts,
		Env: []corev1.EnvVar{
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			{Name: "INSTANCE_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
			{Name: "SERVICE_ACCOUNT", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
			{Name: "CA_ADDR", Value: v.DiscoveryAddress()},
			{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
			{Name: "ISTIO_META_CLUSTER_ID", Value: v.ClusterID},
			{Name: "ISTIO_META_WORKLOAD_NAME", Value: name},
			{Name: "ISTIO_META_OWNER", Value: fmt.Sprintf("kubernetes://apis/apps/v1/namespaces/%s/deployments/%s", v.Namespace, name)},
			{Name: "TRUST_DOMAIN", Value: v.TrustDomain},
			{Name: "PROXY_CONFIG", Value: string(proxyConfig)},
		},
		Resources:      v.ProxyResources(),
		ReadinessProbe: httpProbe("/healthz/ready", 15021),
		SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: ptr(false), RunAsNonRoot: ptr(true),
			RunAsUser: ptr(ProxyUID), RunAsGroup: ptr(ProxyGID),
			Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		// As Istio's gateway injection template: the agent (uid 1337) creates
		// its SDS socket in workload-socket and reads credentials from the
		// other two; without them it cannot serve Envoy its certificate.
		VolumeMounts: []corev1.VolumeMount{
			{Name: "workload-socket", MountPath: "/var/run/secrets/workload-spiffe-uds"},
			{Name: "credential-socket", MountPath: "/var/run/secrets/credential-uds"},
			{Name: "workload-certs", MountPath: "/var/run/secrets/workload-spiffe-credentials"},
			{Name: "istiod-ca-cert", MountPath: "/var/run/secrets/istio"},
			{Name: "istio-token", MountPath: "/var/run/secrets/tokens", ReadOnly: true},
			{Name: "istio-envoy", MountPath: "/etc/istio/proxy"},
			{Name: "istio-data", MountPath: "/var/lib/istio/data"},
			{Name: "podinfo", MountPath: "/etc/istio/pod"},
		},
	}
	emptyDir := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	pod := corev1.PodSpec{
		Containers: []corev1.Container{c},
		Volumes: []corev1.Volume{
			{Name: "workload-socket", VolumeSource: emptyDir},
			{Name: "credential-socket", VolumeSource: emptyDir},
			{Name: "workload-certs", VolumeSource: emptyDir},
			configVolume("istiod-ca-cert", RootCertConfigMap),
			istioTokenVolume(),
			{Name: "istio-envoy", VolumeSource: emptyDir},
			{Name: "istio-data", VolumeSource: emptyDir},
			{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
				{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations"}},
			}}}},
		},
	}
	annotations := map[string]string{"sidecar.istio.io/inject": "false"}
	if EnablePrometheusMerge {
		for k, val := range PrometheusMergeAnnotations() {
			annotations[k] = val
		}
	}
	d := v.deployment(name, app, name, 1, annotations, pod)
	d.Spec.Template.Labels["istio"] = "ingressgateway"
	svc := v.service(name, app, v.IngressType, svcPorts)
	svc.Spec.Selector["istio"] = "ingressgateway"
	d.Spec.Selector.MatchLabels["istio"] = "ingressgateway"
	return []client.Object{
		v.serviceAccount(name, app),
		v.role(name, app, []rbacv1.PolicyRule{rule(core, []string{"secrets"}, readVerbs)}),
		v.roleBinding(name, app, name),
		d,
		svc,
	}, nil
}

// PrometheusMergeAnnotations are the prometheus.io/* annotations of a pod
// whose agent merges the application's metrics with Envoy's (mesh config
// enablePrometheusMerge), as Istio's injector sets them.
func PrometheusMergeAnnotations() map[string]string {
	return map[string]string{
		"prometheus.io/scrape": "true",
		"prometheus.io/port":   "15020",
		"prometheus.io/path":   "/stats/prometheus",
	}
}

// truncName keeps container port names within 15 characters.
func truncName(s string) string {
	if len(s) > 15 {
		return s[:15]
	}
	return s
}
