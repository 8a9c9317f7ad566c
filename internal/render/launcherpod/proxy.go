package launcherpod

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
)

// Istio-compatible sidecar contract.
const (
	ProxyHealthPath      = "/healthz/ready"
	ProxyPromPortName    = "http-envoy-prom"
	ProxyTokenAudience   = "istio-ca"
	proxyTokenExpiration = 43200

	volIstioEnvoy     = "istio-envoy"
	volIstioData      = "istio-data"
	volIstioPodinfo   = "istio-podinfo"
	volIstioToken     = "istio-token"
	volIstiodCACert   = "istiod-ca-cert"
	volWorkloadSocket = "workload-socket"
	volCredSocket     = "credential-socket"
	volWorkloadCerts  = "workload-certs"
)

func proxyVolumes(mesh *injection.Settings) []corev1.Volume {
	empty := func(name string, medium corev1.StorageMedium) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: medium}}}
	}
	return []corev1.Volume{
		empty(volWorkloadSocket, ""),
		empty(volCredSocket, ""),
		empty(volWorkloadCerts, ""),
		empty(volIstioEnvoy, corev1.StorageMediumMemory),
		empty(volIstioData, ""),
		{Name: volIstioPodinfo, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
			{Path: "annotations", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations"}},
		}}}},
		{Name: volIstioToken, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{
			ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Audience: ProxyTokenAudience, ExpirationSeconds: ptr.To[int64](proxyTokenExpiration), Path: "istio-token"},
		}}}}},
		{Name: volIstiodCACert, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: mesh.RootCertConfigMap},
		}}},
	}
}

// proxyContainer is the Istio-compatible sidecar as a native sidecar: an
// init container with restartPolicy Always after net-setup, so the rules are
// in place before it starts and the kubelet stops it after compute exits.
// It is what Istio's injection template renders for a native sidecar: the
// startupProbe makes the kubelet start compute (the VM) only once the proxy
// is ready, and the preStop hook drains Envoy's connections when the pod
// stops.
func proxyContainer(vmi *virtv1alpha1.VirtualMachineInstance, mesh *injection.Settings, appPorts []corev1.ContainerPort) (corev1.Container, error) {
	proxyConfig, err := proxyConfigJSON(vmi, mesh)
	if err != nil {
		return corev1.Container{}, err
	}
	podPorts, _ := json.Marshal(appPorts)
	if len(appPorts) == 0 {
		podPorts = []byte("[]")
	}
	field := func(path string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: path}}
	}
	logLevel := mesh.ProxyLogLevel
	if logLevel == "" {
		logLevel = "warning"
	}
	clusterDomain := mesh.ClusterDomain
	if clusterDomain == "" {
		clusterDomain = "cluster.local"
	}
	healthProbe := corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: ProxyHealthPath, Port: intstr.FromInt32(podcontract.ProxyHealthPort)}}
	c := corev1.Container{
		Name:          podcontract.ContainerProxy,
		Image:         mesh.ProxyImage,
		RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
		Args: []string{
			"proxy", "sidecar",
			"--domain", "$(POD_NAMESPACE).svc." + clusterDomain,
			"--proxyLogLevel=" + logLevel,
			"--proxyComponentLogLevel=misc:error",
			"--log_output_level=default:info",
		},
		Env: []corev1.EnvVar{
			{Name: "PILOT_CERT_PROVIDER", Value: "istiod"},
			{Name: "CA_ADDR", Value: mesh.DiscoveryAddress},
			{Name: "POD_NAME", ValueFrom: field("metadata.name")},
			{Name: "POD_NAMESPACE", ValueFrom: field("metadata.namespace")},
			{Name: "INSTANCE_IP", ValueFrom: field("status.podIP")},
			{Name: "SERVICE_ACCOUNT", ValueFrom: field("spec.serviceAccountName")},
			{Name: "HOST_IP", ValueFrom: field("status.hostIP")},
			{Name: "ISTIO_CPU_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "PROXY_CONFIG", Value: proxyConfig},
			{Name: "TRUST_DOMAIN", Value: mesh.TrustDomain},
			{Name: "ISTIO_META_POD_PORTS", Value: string(podPorts)},
			{Name: "ISTIO_META_APP_CONTAINERS", Value: podcontract.ContainerCompute},
			{Name: "ISTIO_META_CLUSTER_ID", Value: mesh.ClusterID},
			{Name: "ISTIO_META_NODE_NAME", ValueFrom: field("spec.nodeName")},
			{Name: "ISTIO_META_INTERCEPTION_MODE", Value: "REDIRECT"},
			{Name: "ISTIO_META_WORKLOAD_NAME", Value: vmi.Name},
			{Name: "ISTIO_META_OWNER", Value: fmt.Sprintf("kubernetes://apis/%s/namespaces/%s/virtualmachineinstances/%s", virtv1alpha1.GroupVersion.String(), vmi.Namespace, vmi.Name)},
			{Name: "ISTIO_META_MESH_ID", Value: mesh.TrustDomain},
		},
		Ports:     []corev1.ContainerPort{{Name: ProxyPromPortName, ContainerPort: podcontract.ProxyPromPort, Protocol: corev1.ProtocolTCP}},
		Resources: *mesh.ProxyResources.DeepCopy(),
		StartupProbe: &corev1.Probe{
			ProbeHandler:     healthProbe,
			PeriodSeconds:    1,
			TimeoutSeconds:   3,
			FailureThreshold: 600,
		},
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:     healthProbe,
			PeriodSeconds:    15,
			TimeoutSeconds:   3,
			FailureThreshold: 4,
		},
		Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{
			Command: []string{"pilot-agent", "request", fmt.Sprintf("--debug-port=%d", podcontract.ProxyAgentPort), "POST", "drain"},
		}}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To(mesh.ProxyUID),
			RunAsGroup:               ptr.To(mesh.ProxyGID),
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Privileged:               ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		},
		VolumeMounts: []corev1.VolumeMount{
			{Name: volWorkloadSocket, MountPath: "/var/run/secrets/workload-spiffe-uds"},
			{Name: volCredSocket, MountPath: "/var/run/secrets/credential-uds"},
			{Name: volWorkloadCerts, MountPath: "/var/run/secrets/workload-spiffe-credentials"},
			{Name: volIstiodCACert, MountPath: "/var/run/secrets/istio", ReadOnly: true},
			{Name: volIstioData, MountPath: "/var/lib/istio/data"},
			{Name: volIstioEnvoy, MountPath: "/etc/istio/proxy"},
			{Name: volIstioToken, MountPath: "/var/run/secrets/tokens", ReadOnly: true},
			{Name: volIstioPodinfo, MountPath: "/etc/istio/pod", ReadOnly: true},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	return c, nil
}
