package controlplane

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var (
	tmSA                 = metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"}
	tmConfigMap          = metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	tmService            = metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}
	tmDeployment         = metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}
	tmRole               = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}
	tmRoleBinding        = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "RoleBinding"}
	tmClusterRole        = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}
	tmClusterRoleBinding = metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"}
	tmPDB                = metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"}
)

// selectorLabels select a component's pods.
func (v Values) selectorLabels(app string) map[string]string {
	return map[string]string{"app": app, "istio.io/rev": v.revLabel()}
}

// labels are on every rendered object of a component.
func (v Values) labels(app string) map[string]string {
	l := v.selectorLabels(app)
	l[LabelManagedBy] = ManagedByValue
	l[LabelControlPlane] = v.Name
	return l
}

func (v Values) meta(name, app string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: v.Namespace, Labels: v.labels(app)}
}

func (v Values) clusterMeta(name, app string) metav1.ObjectMeta {
	l := v.labels(app)
	l[LabelOwnerNamespace] = v.Namespace
	l[LabelOwnerName] = v.Name
	return metav1.ObjectMeta{Name: name, Labels: l}
}

func (v Values) serviceAccount(name, app string) *corev1.ServiceAccount {
	return &corev1.ServiceAccount{TypeMeta: tmSA, ObjectMeta: v.meta(name, app)}
}

func (v Values) role(name, app string, rules []rbacv1.PolicyRule) *rbacv1.Role {
	return &rbacv1.Role{TypeMeta: tmRole, ObjectMeta: v.meta(name, app), Rules: rules}
}

func (v Values) roleBinding(name, app, sa string) *rbacv1.RoleBinding {
	return &rbacv1.RoleBinding{
		TypeMeta: tmRoleBinding, ObjectMeta: v.meta(name, app),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: v.Namespace}},
	}
}

func (v Values) clusterRole(name, app string, rules []rbacv1.PolicyRule) *rbacv1.ClusterRole {
	return &rbacv1.ClusterRole{TypeMeta: tmClusterRole, ObjectMeta: v.clusterMeta(name, app), Rules: rules}
}

func (v Values) clusterRoleBinding(name, app, sa string) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta: tmClusterRoleBinding, ObjectMeta: v.clusterMeta(name, app),
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: v.Namespace}},
	}
}

// deployment renders a single-container Deployment of a component.
func (v Values) deployment(name, app, sa string, replicas int32, podAnnotations map[string]string, spec corev1.PodSpec) *appsv1.Deployment {
	spec.ServiceAccountName = sa
	return &appsv1.Deployment{
		TypeMeta:   tmDeployment,
		ObjectMeta: v.meta(name, app),
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: v.selectorLabels(app)},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: v.labels(app), Annotations: podAnnotations},
				Spec:       spec,
			},
		},
	}
}

func (v Values) service(name, app string, typ corev1.ServiceType, ports []corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		TypeMeta: tmService, ObjectMeta: v.meta(name, app),
		Spec: corev1.ServiceSpec{Type: typ, Selector: v.selectorLabels(app), Ports: ports},
	}
}

func (v Values) configMap(name, app string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{TypeMeta: tmConfigMap, ObjectMeta: v.meta(name, app), Data: data}
}

func tcpPort(name string, port, target int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Protocol: corev1.ProtocolTCP, Port: port, TargetPort: intstr.FromInt32(target)}
}

func containerPort(name string, port int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: name, ContainerPort: port, Protocol: corev1.ProtocolTCP}
}

func httpProbe(path string, port int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:        corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
		InitialDelaySeconds: 1, PeriodSeconds: 3, TimeoutSeconds: 5, FailureThreshold: 30,
	}
}

func rule(groups, resources, verbs []string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{APIGroups: groups, Resources: resources, Verbs: verbs}
}

var (
	readVerbs = []string{"get", "list", "watch"}
	core      = []string{""}
)

func ptr[T any](v T) *T { return &v }

func restrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false),
		RunAsNonRoot:             ptr(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func configVolume(name, configMap string) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}}}}
}
