package istio

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"virtmesh.io/virtmesh/internal/hostistiod"
	"virtmesh.io/virtmesh/internal/logtail"
)

const probeNS, probeSA = "istio-probe", "istiod-probe"

// TestIstiodRBAC derives what the pinned istiod needs from the API server's
// refusals in its own log, and fails when the ClusterRole and Role VirtMesh
// renders do not grant one of them: the next Istio bump cannot silently add
// a kind istiod watches.
//
// The rendered istiod pod runs as a ServiceAccount that may, at first, only
// read ConfigMaps in its namespace (to find its mesh config), and talks to
// the API server through a recorder that keeps every refusal (403) it gets:
// istiod logs some of them, and retries others silently (its CA secret).
// Every refusal is granted to that ServiceAccount, exactly (the verb, or list
// and watch for a list), and istiod restarts, until it is ready. The
// refusals are then asked of the real istiod ServiceAccount as
// SubjectAccessReviews.
func TestIstiodRBAC(t *testing.T) {
	ctx := context.Background()
	tmpl := renderedIstiodPod(t)
	for _, f := range gatewayAPICRDs(t) {
		kubectl(t, "", "apply", "--server-side", "-f", f)
	}
	kubectl(t, fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %[1]s
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[2]s
  namespace: %[1]s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: %[2]s
  namespace: %[1]s
rules:
  - apiGroups: [""]
    resources: [configmaps]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: %[2]s
  namespace: %[1]s
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: %[2]s}
subjects: [{kind: ServiceAccount, name: %[2]s, namespace: %[1]s}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: %[2]s
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: %[2]s
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: %[2]s}
subjects: [{kind: ServiceAccount, name: %[2]s, namespace: %[1]s}]
`, probeNS, probeSA), "apply", "-f", "-")
	t.Cleanup(func() {
		kubectlQuiet("delete", "namespace", probeNS, "--wait=false")
		kubectlQuiet("delete", "clusterrole,clusterrolebinding", probeSA)
	})
	mesh, err := cs.CoreV1().ConfigMaps(meshNS).Get(ctx, "istio", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(probeNS).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "istio", Namespace: probeNS}, Data: mesh.Data}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: probeSA, Namespace: probeNS, Labels: map[string]string{"app": probeSA}}, Spec: *tmpl.DeepCopy()}
	pod.Spec.ServiceAccountName = probeSA
	if _, err := cs.CoreV1().Pods(probeNS).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod = runningPod(t, probeNS, "app="+probeSA)
	rec := startRecorder(t)

	var needed []denial
	for round := 1; ; round++ {
		found, ready, log := probeRound(t, pod, round, rec)
		var fresh []denial
		for _, d := range found {
			if !slices.Contains(needed, d) {
				fresh = append(fresh, d)
			}
		}
		t.Logf("round %d: ready=%v, %d new refusals: %v", round, ready, len(fresh), fresh)
		if ready && len(fresh) == 0 {
			break
		}
		if len(fresh) == 0 {
			t.Fatalf("istiod as %s is not ready and logs no new refusal; its log:\n%s", probeSA, logtail.Last(log, 40))
		}
		if round == 15 {
			t.Fatalf("still new refusals after %d rounds: %v", round, fresh)
		}
		needed = append(needed, fresh...)
		grant(t, fresh)
	}
	slices.SortFunc(needed, func(a, b denial) int { return strings.Compare(a.String(), b.String()) })
	t.Logf("the pinned istiod needs, from its own refusals (%d): %v", len(needed), needed)

	// The derivation found what the issue saw missing and the Gateway API
	// kinds whose CRDs TestIstio installed: it is not vacuous.
	for _, want := range []string{"networking.k8s.io/ingresses", "networking.k8s.io/ingressclasses",
		"admissionregistration.k8s.io/mutatingwebhookconfigurations", "admissionregistration.k8s.io/validatingwebhookconfigurations",
		"gateway.networking.k8s.io/httproutes"} {
		if !slices.ContainsFunc(needed, func(d denial) bool { return d.Group+"/"+d.Resource == want }) {
			t.Errorf("no refusal for %s: the derivation missed a kind istiod watches", want)
		}
	}
	for _, d := range needed {
		ns := d.Namespace
		if ns == probeNS {
			ns = meshNS // istiod's own namespace
		}
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User:               "system:serviceaccount:" + meshNS + ":istiod",
			Groups:             []string{"system:serviceaccounts", "system:serviceaccounts:" + meshNS, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: d.Verb, Group: d.Group, Resource: d.Resource, Namespace: ns},
		}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !got.Status.Allowed {
			t.Errorf("istiod needs to %s (from its refusal) but the rendered ClusterRole/Role do not grant it: add it to internal/render/controlplane/istiod_rbac.go", d)
		}
	}
}

// renderedIstiodPod is the pod template of the rendered istiod Deployment.
func renderedIstiodPod(t *testing.T) *corev1.PodSpec {
	t.Helper()
	applyMeshControlPlane(t)
	var spec *corev1.PodSpec
	eventually(t, 60*time.Second, "the rendered istiod Deployment", func() error {
		d, err := cs.AppsV1().Deployments(meshNS).Get(context.Background(), "istiod", metav1.GetOptions{})
		if err != nil {
			return err
		}
		spec = &d.Spec.Template.Spec
		return nil
	})
	return spec
}

// probeRound runs istiod until it is ready, or until it meets no new
// refusal for a few seconds, and returns its refusals (logged or recorded).
func probeRound(t *testing.T, pod *corev1.Pod, round int, rec *recorder) ([]denial, bool, string) {
	t.Helper()
	log := &syncBuffer{}
	name := fmt.Sprintf("%s-%d", probeSA, round)
	f, err := os.Create(filepath.Join(stateDir, name+".istiod.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec.reset()
	found := func() []denial { return union(denials(log.String()), rec.denials()) }
	i, err := hostistiod.Start(context.Background(), hostistiod.Options{Client: cs, Config: rec.config(),
		Binary: filepath.Join(binDir, "pilot-discovery"), Dir: filepath.Join(stateDir, "hosts", name), Pod: pod, Log: io.MultiWriter(log, f)})
	if err != nil {
		t.Fatal(err)
	}
	untrack := track(procOf(i))
	defer func() {
		_ = i.Stop(20 * time.Second)
		untrack()
	}()
	start, lastNew, seen := time.Now(), time.Now(), 0
	for time.Since(start) < 90*time.Second {
		time.Sleep(500 * time.Millisecond)
		if ready, _ := i.Probe().Ready(context.Background()); ready {
			return found(), true, log.String()
		}
		if n := len(found()); n != seen {
			seen, lastNew = n, time.Now()
		}
		if seen > 0 && time.Since(lastNew) > 4*time.Second {
			break
		}
	}
	return found(), false, log.String()
}

func union(a, b []denial) []denial {
	out := slices.Clone(a)
	for _, d := range b {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// recorder is a reverse proxy to the API server that keeps every refusal
// (HTTP 403) it passes back: the API server's message names the verb,
// resource and API group, as in a log.
type recorder struct {
	url  string
	ca   []byte
	mu   sync.Mutex
	seen []denial
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	target, err := url.Parse(restConfig.Host)
	if err != nil {
		t.Fatal(err)
	}
	transport, err := rest.TransportFor(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: restConfig.CAData, CAFile: restConfig.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = transport
	proxy.FlushInterval = -1 // watches stream
	proxy.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode != http.StatusForbidden {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		r.mu.Lock()
		r.seen = union(r.seen, denials(string(body)))
		r.mu.Unlock()
		return nil
	}
	// TLS, as client-go sends a bearer token only to an https server.
	srv := httptest.NewTLSServer(proxy)
	t.Cleanup(srv.Close)
	r.url = srv.URL
	r.ca = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	return r
}

// config points istiod at the recorder; istiod's bearer token passes through
// to the API server.
func (r *recorder) config() *rest.Config {
	return &rest.Config{Host: r.url, TLSClientConfig: rest.TLSClientConfig{CAData: r.ca}}
}

func (r *recorder) reset() {
	r.mu.Lock()
	r.seen = nil
	r.mu.Unlock()
}

func (r *recorder) denials() []denial {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seen)
}

// grant gives the probe's ServiceAccount exactly what it was refused (list
// comes with watch: a reflector lists, then watches).
func grant(t *testing.T, ds []denial) {
	t.Helper()
	ctx := context.Background()
	for _, d := range ds {
		verbs := []string{d.Verb}
		if d.Verb == "list" {
			verbs = append(verbs, "watch")
		}
		r := rbacv1.PolicyRule{APIGroups: []string{d.Group}, Resources: []string{d.Resource}, Verbs: verbs}
		var err error
		// Refusals in other namespaces (the root certificate istiod writes
		// into every namespace) are granted cluster-wide.
		if d.Namespace == probeNS {
			var role *rbacv1.Role
			if role, err = cs.RbacV1().Roles(d.Namespace).Get(ctx, probeSA, metav1.GetOptions{}); err == nil {
				role.Rules = append(role.Rules, r)
				_, err = cs.RbacV1().Roles(d.Namespace).Update(ctx, role, metav1.UpdateOptions{})
			}
		} else {
			var cr *rbacv1.ClusterRole
			if cr, err = cs.RbacV1().ClusterRoles().Get(ctx, probeSA, metav1.GetOptions{}); err == nil {
				cr.Rules = append(cr.Rules, r)
				_, err = cs.RbacV1().ClusterRoles().Update(ctx, cr, metav1.UpdateOptions{})
			}
		}
		if err != nil {
			t.Fatalf("grant %s: %v", d, err)
		}
	}
}
