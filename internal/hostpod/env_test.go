package hostpod

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestExpand(t *testing.T) {
	vals := map[string]string{"POD_NAMESPACE": "bookinfo"}
	for in, want := range map[string]string{
		"$(POD_NAMESPACE).svc.cluster.local": "bookinfo.svc.cluster.local",
		"$(UNKNOWN)/x":                       "$(UNKNOWN)/x",
		"$$(POD_NAMESPACE)":                  "$(POD_NAMESPACE)",
		"cost: 5$":                           "cost: 5$",
		"$(UNCLOSED":                         "$(UNCLOSED",
	} {
		if got := Expand(in, vals); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnv(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-1", Labels: map[string]string{"b": "2", "a": `q"x`}, Annotations: map[string]string{"k": "v"}},
		Spec:       corev1.PodSpec{NodeName: "n1", ServiceAccountName: "sa"},
		Status:     corev1.PodStatus{PodIP: "10.0.0.5", HostIP: "192.0.2.1"},
	}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	c := corev1.Container{
		Name:      "c",
		Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m"), corev1.ResourceMemory: resource.MustParse("1Gi")}},
		Env: []corev1.EnvVar{
			{Name: "NS", ValueFrom: field("metadata.namespace")},
			{Name: "DOMAIN", Value: "$(NS).svc"},
			{Name: "IP", ValueFrom: field("status.podIP")},
			{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
			{Name: "LABEL_A", ValueFrom: field("metadata.labels['a']")},
			{Name: "LABELS", ValueFrom: field("metadata.labels")},
			{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			{Name: "MEM_MI", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		},
	}
	got, err := Env(pod, c)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"NS=ns", "DOMAIN=ns.svc", "IP=10.0.0.5", "SA=sa", `LABEL_A=q"x`, "LABELS=a=\"q\\\"x\"\nb=\"2\"", "CPU=2", "MEM_MI=1024"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Env (-want +got):\n%s", diff)
	}
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.hostname")}}
	if _, err := Env(pod, c); err == nil || !strings.Contains(err.Error(), "spec.hostname is not supported") {
		t.Errorf("unsupported field: err = %v", err)
	}
}
