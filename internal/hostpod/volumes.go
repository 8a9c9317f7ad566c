package hostpod

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Materialize writes every volume c mounts under root at its mount path, as
// the kubelet would: emptyDir an empty directory; configMap and secret their
// keys (an optional one that does not exist stays empty); downwardAPI the
// kubelet's format; a projected serviceAccountToken a TokenRequest for the
// pod's ServiceAccount with the volume's audience and expiration, bound to
// the pod. Other volume types are refused.
func Materialize(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, c corev1.Container, root string) error {
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			return fmt.Errorf("container %s mounts %s, which the pod does not have", c.Name, m.Name)
		}
		if m.SubPath != "" || m.SubPathExpr != "" {
			return fmt.Errorf("volume %s: subPath is not supported", m.Name)
		}
		dir := filepath.Join(root, m.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if v.EmptyDir != nil {
			// The kubelet's emptyDir is world-writable: a container's
			// non-root user writes there, and only there when its root file
			// system is read-only.
			if err := os.Chmod(dir, 0o777); err != nil {
				return err
			}
		}
		files, err := volumeFiles(ctx, cs, pod, v)
		if err != nil {
			return fmt.Errorf("volume %s: %w", v.Name, err)
		}
		for name, data := range files {
			p := filepath.Join(dir, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(p, data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func volumeFiles(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, v corev1.Volume) (map[string][]byte, error) {
	s := v.VolumeSource
	switch {
	case s.EmptyDir != nil:
		return nil, nil
	case s.ConfigMap != nil:
		return configMapFiles(ctx, cs, pod.Namespace, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional)
	case s.Secret != nil:
		return secretFiles(ctx, cs, pod.Namespace, s.Secret.SecretName, s.Secret.Items, s.Secret.Optional)
	case s.DownwardAPI != nil:
		return downwardFiles(pod, s.DownwardAPI.Items)
	case s.Projected != nil:
		return projectedFiles(ctx, cs, pod, s.Projected.Sources)
	}
	return nil, fmt.Errorf("only emptyDir, configMap, secret, downwardAPI and projected volumes are supported")
}

func projectedFiles(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, sources []corev1.VolumeProjection) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, src := range sources {
		var files map[string][]byte
		var err error
		switch {
		case src.ServiceAccountToken != nil:
			t := src.ServiceAccountToken
			var token string
			token, err = Token(ctx, cs, pod, t.Audience, t.ExpirationSeconds)
			files = map[string][]byte{t.Path: []byte(token)}
		case src.ConfigMap != nil:
			files, err = configMapFiles(ctx, cs, pod.Namespace, src.ConfigMap.Name, src.ConfigMap.Items, src.ConfigMap.Optional)
		case src.Secret != nil:
			files, err = secretFiles(ctx, cs, pod.Namespace, src.Secret.Name, src.Secret.Items, src.Secret.Optional)
		case src.DownwardAPI != nil:
			files, err = downwardFiles(pod, src.DownwardAPI.Items)
		default:
			err = fmt.Errorf("projected source %+v is not supported", src)
		}
		if err != nil {
			return nil, err
		}
		for k, v := range files {
			out[k] = v
		}
	}
	return out, nil
}

// Token is a TokenRequest for the pod's ServiceAccount, bound to the pod, as
// the kubelet requests one for a projected serviceAccountToken volume (empty
// audience: the API server's).
func Token(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, audience string, expirationSeconds *int64) (string, error) {
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		ExpirationSeconds: expirationSeconds,
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if audience != "" {
		req.Spec.Audiences = []string{audience}
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	got, err := cs.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, req, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("TokenRequest for ServiceAccount %s/%s: %w", pod.Namespace, sa, err)
	}
	return got.Status.Token, nil
}

func configMapFiles(ctx context.Context, cs kubernetes.Interface, ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("configMap %s/%s: %w", ns, name, err)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return pick(data, items)
}

func secretFiles(ctx context.Context, cs kubernetes.Interface, ns, name string, items []corev1.KeyToPath, optional *bool) (map[string][]byte, error) {
	s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) && optional != nil && *optional {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, err)
	}
	return pick(s.Data, items)
}

func pick(data map[string][]byte, items []corev1.KeyToPath) (map[string][]byte, error) {
	if len(items) == 0 {
		return data, nil
	}
	out := map[string][]byte{}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			return nil, fmt.Errorf("no key %s", it.Key)
		}
		out[it.Path] = v
	}
	return out, nil
}

func downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile) (map[string][]byte, error) {
	out := map[string][]byte{}
	for _, it := range items {
		if it.FieldRef == nil {
			return nil, fmt.Errorf("downwardAPI %s: only fieldRef is supported", it.Path)
		}
		v, err := fieldValue(pod, it.FieldRef.FieldPath)
		if err != nil {
			return nil, fmt.Errorf("downwardAPI %s: %w", it.Path, err)
		}
		out[it.Path] = []byte(v)
	}
	return out, nil
}
