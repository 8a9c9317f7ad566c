package realnode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/internal/render/controlplane"
)

// checkRootCert: ConfigMap istio-ca-root-cert in ns holds the root of the
// CA istiod made (Secret istio-ca-secret), and nothing stood in for istiod.
func checkRootCert(t *testing.T, ns string) {
	t.Helper()
	var secret corev1.Secret
	var cm corev1.ConfigMap
	eventually(t, 60*time.Second, "istiod's root certificate in "+ns, func() error {
		if err := getJSON(&secret, "secret", controlplane.SelfSignedCASecret, "-n", istiodNS); err != nil {
			return err
		}
		if err := getJSON(&cm, "configmap", controlplane.RootCertConfigMap, "-n", ns); err != nil {
			return err
		}
		root := string(secret.Data["ca-cert.pem"])
		if root == "" || cm.Data[controlplane.RootCertKey] != root {
			return fmt.Errorf("%s/%s does not hold istiod's root (%s/%s ca-cert.pem)", ns, controlplane.RootCertConfigMap, istiodNS, controlplane.SelfSignedCASecret)
		}
		return nil
	})
	for k, v := range cm.Annotations {
		if strings.Contains(k, "stand-in") {
			t.Errorf("%s/%s is annotated %s=%s: istiod must publish it", ns, cm.Name, k, v)
		}
	}
}

// waitMCPReady waits until mcp/basic is Ready for its generation.
func waitMCPReady(t *testing.T, timeout time.Duration) *meshv1alpha1.MeshControlPlane {
	t.Helper()
	var mcp meshv1alpha1.MeshControlPlane
	eventually(t, timeout, "mcp/basic Ready", func() error {
		if err := getJSON(&mcp, "meshcontrolplane", "basic", "-n", istiodNS); err != nil {
			return err
		}
		c := condition(mcp.Status.Conditions, meshv1alpha1.ConditionReady)
		if c == nil || c.Status != "True" || c.ObservedGeneration != mcp.Generation {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	return &mcp
}

// istiodPod is the one running istiod pod other than skip.
func istiodPod(t *testing.T, skip string) corev1.Pod {
	t.Helper()
	p, err := findIstiodPod(skip)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func findIstiodPod(skip string) (corev1.Pod, error) {
	var list corev1.PodList
	if err := getJSON(&list, "pods", "-n", istiodNS, "-l", "app=istiod"); err != nil {
		return corev1.Pod{}, err
	}
	var live []corev1.Pod
	for _, p := range list.Items {
		if p.Name != skip && p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	if len(live) != 1 {
		return corev1.Pod{}, fmt.Errorf("%d istiod pods besides %q, want 1", len(live), skip)
	}
	return live[0], nil
}

// endpoint is what the proof asks of an entry of istiod's /debug/endpointz.
type endpoint struct {
	TLSMode, ServiceAccount string
	Port                    int
}

// endpointOf reads istiod's /debug/endpointz (service host → namespace →
// shards of endpoints) with token and returns the endpoint with address ip.
func endpointOf(url, token, svc, ns, ip string) (endpoint, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, http.NoBody)
	if err != nil {
		return endpoint{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return endpoint{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return endpoint{}, fmt.Errorf("GET %s: %s %v", url, resp.Status, err)
	}
	var z map[string]map[string]struct {
		Shards map[string][]struct {
			Addresses      []string
			ServiceAccount string
			EndpointPort   int
			TLSMode        string
		}
	}
	if err := json.Unmarshal(body, &z); err != nil {
		return endpoint{}, fmt.Errorf("%s: %w", url, err)
	}
	for _, eps := range z[svc][ns].Shards {
		for _, e := range eps {
			if slices.Contains(e.Addresses, ip) {
				return endpoint{TLSMode: e.TLSMode, ServiceAccount: e.ServiceAccount, Port: e.EndpointPort}, nil
			}
		}
	}
	return endpoint{}, fmt.Errorf("%s has no endpoint %s of %s in %s", url, ip, svc, ns)
}

func condition(conds []metav1.Condition, typ string) *metav1.Condition {
	return meta.FindStatusCondition(conds, typ)
}

func podCondition(pod corev1.Pod, typ corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == typ {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// statusField is the value of a /proc/<pid>/status line ("Uid", "VmRSS").
func statusField(status, name string) string {
	for _, l := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// grepLines is up to n lines of s that contain sub.
func grepLines(s, sub string, n int) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && len(out) < n {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
