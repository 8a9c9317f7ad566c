package controlplane

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"
)

// AddonClusterRules are the read permissions Prometheus (service discovery) and
// Kiali need cluster-wide. The operator must hold them to grant them.
func AddonClusterRules() []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		rule(core, []string{"namespaces", "pods", "services", "endpoints", "nodes", "configmaps", "replicationcontrollers"}, readVerbs),
		rule([]string{"discovery.k8s.io"}, []string{"endpointslices"}, readVerbs),
		rule([]string{"apps"}, []string{"deployments", "replicasets", "statefulsets", "daemonsets"}, readVerbs),
		rule([]string{"networking.istio.io"}, []string{"virtualservices", "destinationrules", "gateways", "serviceentries", "sidecars", "envoyfilters", "workloadentries", "workloadgroups"}, readVerbs),
		rule([]string{"security.istio.io"}, []string{"peerauthentications", "authorizationpolicies", "requestauthentications"}, readVerbs),
	}
}

// PrometheusConfig is the scrape configuration: istiod's monitoring port, every
// proxy's 15090 and the operator's metrics endpoint.
func PrometheusConfig(v Values) (string, error) {
	keep := func(label, regex string) map[string]any {
		return map[string]any{"source_labels": []string{label}, "action": "keep", "regex": regex}
	}
	cfg := map[string]any{
		"global": map[string]any{"scrape_interval": "15s"},
		"scrape_configs": []any{
			map[string]any{
				"job_name":              "istiod",
				"kubernetes_sd_configs": []any{map[string]any{"role": "endpoints", "namespaces": map[string]any{"names": []string{v.Namespace}}}},
				"relabel_configs": []any{
					keep("__meta_kubernetes_service_name", v.IstiodName()),
					keep("__meta_kubernetes_endpoint_port_name", "http-monitoring"),
				},
			},
			map[string]any{
				"job_name":              "envoy-stats",
				"metrics_path":          "/stats/prometheus",
				"kubernetes_sd_configs": []any{map[string]any{"role": "pod"}},
				"relabel_configs": []any{
					keep("__meta_kubernetes_pod_container_port_number", "15090"),
				},
			},
			// The operator's pods (config/manager) serve plain-HTTP metrics on
			// the container port named "metrics"; no Service is needed.
			map[string]any{
				"job_name":              "virtmesh-operator",
				"kubernetes_sd_configs": []any{map[string]any{"role": "pod"}},
				"relabel_configs": []any{
					keep("__meta_kubernetes_pod_label_app_kubernetes_io_name", "virtmesh-operator"),
					keep("__meta_kubernetes_pod_container_port_name", "metrics"),
				},
			},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode prometheus config: %w", err)
	}
	return string(b), nil
}

// Prometheus renders the Prometheus addon (nil unless deployed).
func Prometheus(v Values) ([]client.Object, error) {
	if !v.Prometheus.Deployed() {
		return nil, nil
	}
	const app = "prometheus"
	name := v.suffixed(app)
	cfg, err := PrometheusConfig(v)
	if err != nil {
		return nil, err
	}
	cr := v.ClusterScopedName(app)
	d := v.deployment(name, app, name, 1, map[string]string{"sidecar.istio.io/inject": "false"}, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: app, Image: v.Prometheus.Image,
			Args:            []string{"--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--storage.tsdb.retention.time=6h"},
			Ports:           []corev1.ContainerPort{containerPort("http", 9090)},
			ReadinessProbe:  httpProbe("/-/ready", 9090),
			SecurityContext: restrictedSecurityContext(),
			VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: "/etc/prometheus"}, {Name: "data", MountPath: "/prometheus"}},
		}},
		Volumes: []corev1.Volume{configVolume("config", name), {Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
	})
	return []client.Object{
		v.serviceAccount(name, app),
		v.clusterRole(cr, app, AddonClusterRules()),
		v.clusterRoleBinding(cr, app, name),
		v.configMap(name, app, map[string]string{"prometheus.yml": cfg}),
		d,
		v.service(name, app, corev1.ServiceTypeClusterIP, []corev1.ServicePort{tcpPort("http", 9090, 9090)}),
	}, nil
}

// Grafana renders the Grafana addon with a Prometheus datasource.
func Grafana(v Values) ([]client.Object, error) {
	if !v.Grafana.Deployed() {
		return nil, nil
	}
	const app = "grafana"
	name := v.suffixed(app)
	ds := map[string]any{"apiVersion": 1, "datasources": []any{}}
	if url := v.url(v.Prometheus, "prometheus", 9090); url != "" {
		ds["datasources"] = []any{map[string]any{"name": "Prometheus", "type": "prometheus", "access": "proxy", "url": url, "isDefault": true}}
	}
	b, err := yaml.Marshal(ds)
	if err != nil {
		return nil, fmt.Errorf("encode grafana datasources: %w", err)
	}
	d := v.deployment(name, app, name, 1, map[string]string{"sidecar.istio.io/inject": "false"}, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: app, Image: v.Grafana.Image,
			Ports:           []corev1.ContainerPort{containerPort("http", 3000)},
			Env:             []corev1.EnvVar{{Name: "GF_AUTH_ANONYMOUS_ENABLED", Value: "true"}, {Name: "GF_PATHS_PROVISIONING", Value: "/etc/grafana/provisioning"}},
			ReadinessProbe:  httpProbe("/api/health", 3000),
			SecurityContext: restrictedSecurityContext(),
			VolumeMounts:    []corev1.VolumeMount{{Name: "datasources", MountPath: "/etc/grafana/provisioning/datasources"}},
		}},
		Volumes: []corev1.Volume{configVolume("datasources", name)},
	})
	return []client.Object{
		v.serviceAccount(name, app),
		v.configMap(name, app, map[string]string{"datasources.yaml": string(b)}),
		d,
		v.service(name, app, corev1.ServiceTypeClusterIP, []corev1.ServicePort{tcpPort("http", 3000, 3000)}),
	}, nil
}

// KialiConfig is Kiali's config.yaml: the istio namespace and the URLs of the
// other addons, deployed or external.
func KialiConfig(v Values) (string, error) {
	ext := map[string]any{
		"istio": map[string]any{"config_map_name": v.MeshConfigName(), "istiod_deployment_name": v.IstiodName(), "url_service_version": fmt.Sprintf("http://%s.%s:15014/version", v.IstiodName(), v.Namespace)},
	}
	if url := v.url(v.Prometheus, "prometheus", 9090); url != "" {
		ext["prometheus"] = map[string]any{"url": url}
	}
	if url := v.url(v.Grafana, "grafana", 3000); url != "" {
		ext["grafana"] = map[string]any{"enabled": true, "internal_url": url}
	} else {
		ext["grafana"] = map[string]any{"enabled": false}
	}
	if url := v.url(v.Tracing, "tracing", 16686); url != "" {
		ext["tracing"] = map[string]any{"enabled": true, "internal_url": url, "use_grpc": false}
	} else {
		ext["tracing"] = map[string]any{"enabled": false}
	}
	cfg := map[string]any{
		"istio_namespace":   v.Namespace,
		"auth":              map[string]any{"strategy": "anonymous"},
		"deployment":        map[string]any{"accessible_namespaces": []string{"**"}, "view_only_mode": true},
		"server":            map[string]any{"port": 20001, "web_root": "/kiali"},
		"external_services": ext,
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return "", fmt.Errorf("encode kiali config: %w", err)
	}
	return string(b), nil
}

// Kiali renders the Kiali addon.
func Kiali(v Values) ([]client.Object, error) {
	if !v.Kiali.Deployed() {
		return nil, nil
	}
	const app = "kiali"
	name := v.suffixed(app)
	cfg, err := KialiConfig(v)
	if err != nil {
		return nil, err
	}
	cr := v.ClusterScopedName(app)
	d := v.deployment(name, app, name, 1, map[string]string{"sidecar.istio.io/inject": "false"}, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: app, Image: v.Kiali.Image,
			Command:         []string{"/opt/kiali/kiali", "-config", "/kiali-configuration/config.yaml"},
			Ports:           []corev1.ContainerPort{containerPort("api-port", 20001)},
			Env:             []corev1.EnvVar{{Name: "ACTIVE_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}},
			ReadinessProbe:  httpProbe("/kiali/healthz", 20001),
			SecurityContext: restrictedSecurityContext(),
			VolumeMounts:    []corev1.VolumeMount{{Name: "config", MountPath: "/kiali-configuration"}},
		}},
		Volumes: []corev1.Volume{configVolume("config", name)},
	})
	return []client.Object{
		v.serviceAccount(name, app),
		v.clusterRole(cr, app, AddonClusterRules()),
		v.clusterRoleBinding(cr, app, name),
		v.configMap(name, app, map[string]string{"config.yaml": cfg}),
		d,
		v.service(name, app, corev1.ServiceTypeClusterIP, []corev1.ServicePort{tcpPort("http", 20001, 20001)}),
	}, nil
}

// Tracing renders Jaeger all-in-one with its query Service ("tracing") and the
// zipkin Service proxies send spans to.
func Tracing(v Values) []client.Object {
	if !v.Tracing.Deployed() {
		return nil
	}
	const app = "jaeger"
	name := v.suffixed(app)
	d := v.deployment(name, app, name, 1, map[string]string{"sidecar.istio.io/inject": "false"}, corev1.PodSpec{
		Containers: []corev1.Container{{
			Name: app, Image: v.Tracing.Image,
			Env:             []corev1.EnvVar{{Name: "COLLECTOR_ZIPKIN_HOST_PORT", Value: ":9411"}, {Name: "MEMORY_MAX_TRACES", Value: "50000"}},
			Ports:           []corev1.ContainerPort{containerPort("http-query", 16686), containerPort("zipkin", 9411)},
			ReadinessProbe:  httpProbe("/", 14269),
			SecurityContext: restrictedSecurityContext(),
		}},
	})
	return []client.Object{
		v.serviceAccount(name, app),
		d,
		v.service(v.suffixed("tracing"), app, corev1.ServiceTypeClusterIP, []corev1.ServicePort{tcpPort("http-query", 16686, 16686)}),
		v.service(v.suffixed("zipkin"), app, corev1.ServiceTypeClusterIP, []corev1.ServicePort{tcpPort("http-zipkin", 9411, 9411)}),
	}
}
