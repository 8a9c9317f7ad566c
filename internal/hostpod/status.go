package hostpod

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// SetReady sets the pod's Ready and ContainersReady conditions and the
// container's ready flag, as the kubelet does after a readiness probe (a
// strategic merge patch of the status subresource; conditions and container
// statuses merge by type and name).
func SetReady(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, container string, ready bool, message string) error {
	status := corev1.ConditionFalse
	reason := "ReadinessProbeFailed"
	if ready {
		status, reason, message = corev1.ConditionTrue, "", ""
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType) map[string]any {
		return map[string]any{"type": t, "status": status, "reason": reason, "message": message, "lastTransitionTime": now}
	}
	// containerStatuses is an atomic list: send all of it, this one changed.
	cur, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	statuses := cur.Status.ContainerStatuses
	for i := range statuses {
		if statuses[i].Name == container {
			statuses[i].Ready = ready
		}
	}
	patch := map[string]any{"status": map[string]any{
		"conditions":        []any{cond(corev1.PodReady), cond(corev1.ContainersReady)},
		"containerStatuses": statuses,
	}}
	b, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, types.StrategicMergePatchType, b, metav1.PatchOptions{}, "status")
	return err
}

// Probe is an HTTP GET readiness probe of a process on this host.
type Probe struct {
	URL     string
	Period  time.Duration
	Timeout time.Duration
}

// Ready reports whether GET URL answers 2xx or 3xx, as the kubelet's httpGet
// probe judges it, and the status or error otherwise.
func (p Probe) Ready(ctx context.Context) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, http.NoBody)
	if err != nil {
		return false, err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false, err.Error()
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("GET %s: %s", p.URL, resp.Status)
}

// MirrorReadiness probes every period and writes each change of the result
// into the pod's status (SetReady), until ctx ends. It starts by marking the
// pod not ready, whatever the simulated kubelet said before. onChange, when
// set, is called after each change is written.
func MirrorReadiness(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, container string, p Probe, onChange func(ready bool, at time.Time)) error {
	if err := SetReady(ctx, cs, pod, container, false, "not probed yet"); err != nil {
		return fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err)
	}
	last := false
	t := time.NewTicker(p.Period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		ready, msg := p.Ready(ctx)
		if ready == last {
			continue
		}
		if err := SetReady(ctx, cs, pod, container, ready, msg); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("set pod %s/%s ready=%v: %w", pod.Namespace, pod.Name, ready, err)
		}
		last = ready
		if onChange != nil {
			onChange(ready, time.Now())
		}
	}
}

// WriteServiceAccountKubeconfig writes a kubeconfig for the API server of
// cfg that authenticates as the pod's ServiceAccount (a TokenRequest bound
// to the pod), the credentials a container of the pod gets: nothing more.
func WriteServiceAccountKubeconfig(ctx context.Context, cs kubernetes.Interface, cfg *rest.Config, pod *corev1.Pod, path string, validity time.Duration) error {
	secs := int64(validity.Seconds())
	token, err := Token(ctx, cs, pod, "", &secs)
	if err != nil {
		return err
	}
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			return err
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["cluster"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca}
	kc.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: token}
	kc.Contexts["sa"] = &clientcmdapi.Context{Cluster: "cluster", AuthInfo: "sa"}
	kc.CurrentContext = "sa"
	return clientcmd.WriteToFile(*kc, path)
}
