package controlplane

import (
	"errors"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Render returns every object of the control plane, in apply order. The
// injection snapshot and the PeerAuthentication are rendered separately
// (InjectionSettings, PeerAuthentication) because they are applied differently.
func Render(v Values) ([]client.Object, error) {
	var objs []client.Object
	var errs []error
	add := func(o []client.Object, err error) {
		objs = append(objs, o...)
		errs = append(errs, err)
	}
	add(Discovery(v))
	add(IngressGateway(v))
	add(Prometheus(v))
	add(Grafana(v))
	add(Kiali(v))
	add(Tracing(v), nil)
	return objs, errors.Join(errs...)
}

// NamespacedKinds lists every namespaced kind Render can return; the
// controller watches (Owns) each of them and prunes by them. A test fails when
// Render returns a kind missing here.
func NamespacedKinds() []client.Object {
	return []client.Object{
		&corev1.ServiceAccount{}, &corev1.ConfigMap{}, &corev1.Service{},
		&appsv1.Deployment{}, &policyv1.PodDisruptionBudget{},
		&rbacv1.Role{}, &rbacv1.RoleBinding{},
	}
}

// ClusterKinds lists the cluster-scoped kinds Render can return; they carry
// LabelOwnerNamespace/LabelOwnerName instead of an ownerReference.
func ClusterKinds() []client.Object {
	return []client.Object{&rbacv1.ClusterRole{}, &rbacv1.ClusterRoleBinding{}}
}

// Component is an enabled component whose readiness is tracked: the
// Deployment named DeploymentName.
type Component struct {
	Name           string
	DeploymentName string
}

// Components lists the components the operator deploys, in status order.
func Components(v Values) []Component {
	cs := []Component{{ComponentIstiod, v.IstiodName()}}
	if v.Ingress {
		cs = append(cs, Component{ComponentIngress, v.IngressName()})
	}
	for _, a := range []struct {
		name, app string
		addon     Addon
	}{{ComponentPrometheus, "prometheus", v.Prometheus}, {ComponentGrafana, "grafana", v.Grafana}, {ComponentKiali, "kiali", v.Kiali}, {ComponentTracing, "jaeger", v.Tracing}} {
		if a.addon.Deployed() {
			cs = append(cs, Component{a.name, v.suffixed(a.app)})
		}
	}
	return cs
}
