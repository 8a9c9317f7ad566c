package realnode

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/config"
	"virtmesh.io/virtmesh/internal/render/controlplane"
)

// rendered is what VirtMesh renders for the live MeshControlPlane: istiod's
// Deployment and its RBAC.
type rendered struct {
	deployment   *appsv1.Deployment
	clusterRoles map[string]*rbacv1.ClusterRole
	roles        map[string]*rbacv1.Role // by namespace/name
	bindings     []string                // roleRefs bound to istiod's ServiceAccount, see boundRef
}

// renderIstiod renders istiod for mcp as the operator does. The operator's
// own default images do not matter: the local mesh names its images in
// spec.images.
func renderIstiod(t *testing.T, mcp *meshv1alpha1.MeshControlPlane) rendered {
	t.Helper()
	v, problems := controlplane.Resolve(mcp, config.Images{})
	if len(problems) > 0 {
		t.Fatalf("resolve mcp/%s: %v", mcp.Name, problems)
	}
	objs, err := controlplane.Discovery(v)
	if err != nil {
		t.Fatal(err)
	}
	r := rendered{clusterRoles: map[string]*rbacv1.ClusterRole{}, roles: map[string]*rbacv1.Role{}}
	for _, o := range objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			r.deployment = o
		case *rbacv1.ClusterRole:
			r.clusterRoles[o.Name] = o
		case *rbacv1.Role:
			r.roles[o.Namespace+"/"+o.Name] = o
		case *rbacv1.ClusterRoleBinding:
			r.bindings = append(r.bindings, boundRef("", o.RoleRef))
		case *rbacv1.RoleBinding:
			r.bindings = append(r.bindings, boundRef(o.Namespace, o.RoleRef))
		}
	}
	if r.deployment == nil {
		t.Fatal("Discovery rendered no Deployment")
	}
	slices.Sort(r.bindings)
	return r
}

// boundRef names a binding's role: "ClusterRole/x" for a cluster-wide
// grant, "<ns>: Role/x" for a namespaced one.
func boundRef(ns string, ref rbacv1.RoleRef) string {
	s := ref.Kind + "/" + ref.Name
	if ns != "" {
		s = ns + ": " + s
	}
	return s
}

// containerContract is what of istiod's container must be exactly as
// rendered, leaving out what the API server defaults (pull policy,
// termination message, probe thresholds, fieldRef API versions).
type containerContract struct {
	Name, Image       string
	Command, Args     []string
	Env               []string
	Ports             []string
	Mounts            []string
	Readiness         string
	Resources         corev1.ResourceRequirements
	SecurityContext   corev1.SecurityContext
	ServiceAccount    string
	Volumes           []string
	AutomountSAToken  *bool
	HostNetworkOrPID  bool
	PodSecurityExists bool
}

func contractOf(spec corev1.PodSpec) containerContract {
	c := spec.Containers[0]
	cc := containerContract{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, Resources: c.Resources,
		ServiceAccount: spec.ServiceAccountName, AutomountSAToken: spec.AutomountServiceAccountToken,
		HostNetworkOrPID: spec.HostNetwork || spec.HostPID || spec.HostIPC, PodSecurityExists: spec.SecurityContext != nil && !equality.Semantic.DeepEqual(*spec.SecurityContext, corev1.PodSecurityContext{})}
	if c.SecurityContext != nil {
		cc.SecurityContext = *c.SecurityContext
	}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			v = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
		}
		cc.Env = append(cc.Env, e.Name+"="+v)
	}
	for _, p := range c.Ports {
		cc.Ports = append(cc.Ports, fmt.Sprintf("%s %d/%s", p.Name, p.ContainerPort, or(string(p.Protocol), "TCP")))
	}
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(m.MountPath, "/var/run/secrets/kubernetes.io/") {
			continue // the ServiceAccount token the API server adds to the pod
		}
		cc.Mounts = append(cc.Mounts, fmt.Sprintf("%s %s ro=%t", m.Name, m.MountPath, m.ReadOnly))
	}
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil {
		cc.Readiness = fmt.Sprintf("GET :%s%s delay=%d period=%d timeout=%d", p.HTTPGet.Port.String(), p.HTTPGet.Path, p.InitialDelaySeconds, p.PeriodSeconds, p.TimeoutSeconds)
	}
	for _, v := range spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			continue
		}
		cc.Volumes = append(cc.Volumes, v.Name)
	}
	return cc
}

// istiodGrants lists every binding in the cluster that grants istiod's
// ServiceAccount anything: bound to it by name (as ServiceAccount or as
// its user name), and the groups every ServiceAccount of istio-system is
// in. The groups' bindings must be Kubernetes' own defaults.
func istiodGrants(t *testing.T, ns, sa string) (own, groups []string) {
	t.Helper()
	user := "system:serviceaccount:" + ns + ":" + sa
	groupNames := []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"}
	classify := func(bindingNS, name string, labels map[string]string, subjects []rbacv1.Subject, ref rbacv1.RoleRef) {
		for _, s := range subjects {
			switch {
			case s.Kind == rbacv1.ServiceAccountKind && s.Name == sa && s.Namespace == ns, s.Kind == rbacv1.UserKind && s.Name == user:
				own = append(own, boundRef(bindingNS, ref))
			case s.Kind == rbacv1.GroupKind && slices.Contains(groupNames, s.Name):
				if labels["kubernetes.io/bootstrapping"] != "rbac-defaults" {
					groups = append(groups, fmt.Sprintf("%s (binding %s/%s, group %s, not a Kubernetes default)", boundRef(bindingNS, ref), bindingNS, name, s.Name))
				}
			}
		}
	}
	var crbs rbacv1.ClusterRoleBindingList
	if err := getJSON(&crbs, "clusterrolebindings"); err != nil {
		t.Fatal(err)
	}
	for _, b := range crbs.Items {
		classify("", b.Name, b.Labels, b.Subjects, b.RoleRef)
	}
	var rbs rbacv1.RoleBindingList
	if err := getJSON(&rbs, "rolebindings", "-A"); err != nil {
		t.Fatal(err)
	}
	for _, b := range rbs.Items {
		classify(b.Namespace, b.Name, b.Labels, b.Subjects, b.RoleRef)
	}
	slices.Sort(own)
	return own, groups
}
