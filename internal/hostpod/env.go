package hostpod

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Find returns the container (or init container) named name.
func Find(pod *corev1.Pod, name string) (corev1.Container, error) {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		if c.Name == name {
			return c, nil
		}
	}
	return corev1.Container{}, fmt.Errorf("pod %s/%s has no container %s", pod.Namespace, pod.Name, name)
}

// Env resolves c's environment as the kubelet does: literal values (with
// $(VAR) references to earlier variables expanded), the downward API
// (fieldRef) and resources (resourceFieldRef; an unset limit is this host's
// capacity, as it is the node's allocatable on a kubelet). It returns
// "NAME=value" pairs in order.
func Env(pod *corev1.Pod, c corev1.Container) ([]string, error) {
	vals := map[string]string{}
	out := make([]string, 0, len(c.Env))
	for _, e := range c.Env {
		v := Expand(e.Value, vals)
		if s := e.ValueFrom; s != nil {
			var err error
			switch {
			case s.FieldRef != nil:
				v, err = fieldValue(pod, s.FieldRef.FieldPath)
			case s.ResourceFieldRef != nil:
				v, err = resourceValue(c, s.ResourceFieldRef)
			default:
				err = fmt.Errorf("only fieldRef and resourceFieldRef are supported")
			}
			if err != nil {
				return nil, fmt.Errorf("container %s env %s: %w", c.Name, e.Name, err)
			}
		}
		vals[e.Name] = v
		out = append(out, e.Name+"="+v)
	}
	return out, nil
}

// Expand replaces $(VAR) with vals[VAR] ($$ escapes, unknown references stay),
// as the kubelet expands env values, command and args.
func Expand(s string, vals map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+end]
			if v, ok := vals[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// EnvMap turns "NAME=value" pairs into a map (later pairs win).
func EnvMap(env []string) map[string]string {
	m := map[string]string{}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// Args expands $(VAR) in c's args with its resolved environment.
func Args(c corev1.Container, env []string) []string {
	vals := EnvMap(env)
	out := make([]string, len(c.Args))
	for i, a := range c.Args {
		out[i] = Expand(a, vals)
	}
	return out
}

func fieldValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.hostIP":
		return pod.Status.HostIP, nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	for prefix, m := range map[string]map[string]string{"metadata.labels['": pod.Labels, "metadata.annotations['": pod.Annotations} {
		if strings.HasPrefix(path, prefix) && strings.HasSuffix(path, "']") {
			return m[strings.TrimSuffix(strings.TrimPrefix(path, prefix), "']")], nil
		}
	}
	return "", fmt.Errorf("field %s is not supported", path)
}

// formatMap is the kubelet's downward API format of labels and annotations:
// key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	lines := make([]string, len(keys))
	for i, k := range keys {
		lines[i] = fmt.Sprintf("%s=%q", k, m[k])
	}
	return strings.Join(lines, "\n")
}

func resourceValue(c corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("resource %s is not supported", ref.Resource)
	}
	var list corev1.ResourceList
	switch kind {
	case "limits":
		list = c.Resources.Limits
	case "requests":
		list = c.Resources.Requests
	default:
		return "", fmt.Errorf("resource %s is not supported", ref.Resource)
	}
	q, set := list[corev1.ResourceName(name)]
	if !set {
		switch {
		case kind == "limits" && name == "cpu":
			q = *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)
		case kind == "limits" && name == "memory":
			q = *resource.NewQuantity(hostMemory(), resource.BinarySI)
		default:
			q = resource.Quantity{}
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == "cpu" {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// hostMemory is MemTotal of /proc/meminfo in bytes (0 when unreadable).
func hostMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}
