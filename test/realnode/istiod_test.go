package realnode

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	"virtmesh.io/virtmesh/hack/localcluster/host"
	"virtmesh.io/virtmesh/internal/imagebuild"
	"virtmesh.io/virtmesh/internal/render/controlplane"
)

const istiodNS = "istio-system"

// TestIstiod: the istiod Deployment mcp/basic renders runs unchanged on
// the node from the image built of bin/pilot-discovery, with exactly the
// rendered RBAC; the kubelet's readiness probe makes it Ready, the
// MeshControlPlane is Ready because of it, its root certificate is in the
// member namespace and the details VM is an endpoint in its registry. It
// measures a fresh istiod pod's create → Ready and its memory at rest.
func TestIstiod(t *testing.T) {
	ensureMesh(t, "bookinfo")
	mcp := waitMCPReady(t, 5*time.Minute)
	r := renderIstiod(t, mcp)
	pod := istiodPod(t, "")
	logf("istiod: pod %s on %s, image %s", pod.Name, pod.Spec.NodeName, pod.Spec.Containers[0].Image)

	t.Run("the pod runs the rendered Deployment unchanged", func(t *testing.T) {
		var live appsv1.Deployment
		if err := getJSON(&live, "deployment", r.deployment.Name, "-n", istiodNS); err != nil {
			t.Fatal(err)
		}
		want := contractOf(r.deployment.Spec.Template.Spec)
		if diff := cmp.Diff(want, contractOf(live.Spec.Template.Spec), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("the Deployment in the cluster is not what VirtMesh renders (-rendered +live):\n%s", diff)
		}
		if diff := cmp.Diff(want, contractOf(pod.Spec), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("the running pod is not the rendered Deployment's (-rendered +pod):\n%s", diff)
		}
		if want.Image != state.Images.Istiod {
			t.Errorf("mcp/basic renders istiod's image %q, want the local pilot image %q", want.Image, state.Images.Istiod)
		}
		// The CRI's image ID is the config digest hack/images wrote: the
		// container runs the image built from bin/pilot-discovery.
		ix, err := imagebuild.ReadIndex(filepath.Join(binDir, "images"))
		if err != nil {
			t.Fatal(err)
		}
		e := ix.Get("pilot")
		if e == nil || len(pod.Status.ContainerStatuses) != 1 || pod.Status.ContainerStatuses[0].ImageID != e.ID {
			t.Errorf("istiod's container runs image %v, want the pilot image of bin/images/index.json (%+v)", pod.Status.ContainerStatuses, e)
		}
	})

	t.Run("istiod holds exactly the rendered ClusterRoles and Role", func(t *testing.T) {
		own, groups := istiodGrants(t, istiodNS, pod.Spec.ServiceAccountName)
		if diff := cmp.Diff(r.bindings, own); diff != "" {
			t.Errorf("roles bound to %s/%s (-rendered +cluster):\n%s", istiodNS, pod.Spec.ServiceAccountName, diff)
		}
		if len(groups) > 0 {
			t.Errorf("istiod's groups hold more than Kubernetes' defaults:\n  %s", strings.Join(groups, "\n  "))
		}
		for name, cr := range r.clusterRoles {
			var live rbacv1.ClusterRole
			if err := getJSON(&live, "clusterrole", name); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(cr.Rules, live.Rules, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ClusterRole %s (-rendered +live):\n%s", name, diff)
			}
		}
		for key, role := range r.roles {
			var live rbacv1.Role
			if err := getJSON(&live, "role", role.Name, "-n", role.Namespace); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(role.Rules, live.Rules, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Role %s (-rendered +live):\n%s", key, diff)
			}
		}
		logf("istiod: bound to %s and nothing else but Kubernetes' defaults", strings.Join(own, ", "))
		// With only those, nothing istiod needs is refused.
		if l := kubectl(t, "logs", "-n", istiodNS, pod.Name); strings.Contains(l, "forbidden") {
			t.Errorf("istiod logs RBAC refusals:\n%s", grepLines(l, "forbidden", 10))
		}
	})

	t.Run("the kubelet's readiness probe finds the real istiod ready", func(t *testing.T) {
		checkIstiodProcess(t, pod)
	})

	t.Run("mcp/basic is Ready because istiod is", func(t *testing.T) {
		cond := condition(mcp.Status.Conditions, meshv1alpha1.ConditionReady)
		if cond == nil || cond.Reason != meshv1alpha1.ReasonComponentsReady || !slices.Contains(mcp.Status.Readiness.Components.Ready, controlplane.ComponentIstiod) {
			t.Fatalf("Ready %+v, components %+v: want ComponentsReady with istiod ready", cond, mcp.Status.Readiness.Components)
		}
		podReady := podCondition(pod, corev1.PodReady)
		if podReady == nil || cond.LastTransitionTime.Before(&podReady.LastTransitionTime) {
			t.Errorf("mcp/basic turned Ready at %s, before istiod's pod (%+v)", cond.LastTransitionTime, podReady)
		}
		logf("istiod: mcp/basic Ready=%s (%s): %s", cond.Status, cond.Reason, cond.Message)
	})

	t.Run("istiod published its own root certificate into bookinfo", func(t *testing.T) {
		checkRootCert(t, "bookinfo")
	})

	t.Run("the details VM's launcher pod is an endpoint in istiod's registry", func(t *testing.T) {
		if pods, err := launcherPods("bookinfo", "details"); err != nil || len(pods) != 1 {
			setupBookinfo(t)
		}
		vm := launcherPod(t, "bookinfo", "details")
		want := endpoint{TLSMode: "istio", ServiceAccount: "spiffe://cluster.local/ns/bookinfo/sa/" + vm.Spec.ServiceAccountName, Port: 9080}
		// istiod answers its debug endpoints from outside its pod only to a
		// caller it authenticates as it does proxies (a token for audience
		// istio-ca, checked with a TokenReview under its own RBAC) from its
		// root namespace: a test client's identity, which grants istiod
		// nothing.
		token := strings.TrimSpace(kubectl(t, "create", "token", "default", "-n", istiodNS, "--audience", "istio-ca", "--duration", "10m"))
		url := "http://" + net.JoinHostPort(pod.Status.PodIP, "15014") + "/debug/endpointz"
		eventually(t, 30*time.Second, "istiod's /debug/endpointz lists the VM", func() error {
			got, err := endpointOf(url, token, "details.bookinfo.svc.cluster.local", "bookinfo", vm.Status.PodIP)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				return fmt.Errorf("the VM's endpoint (-want +got):\n%s", diff)
			}
			return nil
		})
		logf("istiod: %s lists launcher pod %s (%s) of details: tlsMode istio, %s", url, vm.Name, vm.Status.PodIP, want.ServiceAccount)
	})

	t.Run("a new istiod pod: create to Ready through the kubelet, memory at rest", func(t *testing.T) {
		measureRestart(t, pod)
	})
}

// measureRestart deletes istiod's pod and follows its replacement: the
// pod's own timestamps (created, container started, Ready), whether and
// when mcp/basic went not Ready and Ready again (polled every 250 ms), and
// the process' resident memory once it has been ready for 30 s.
func measureRestart(t *testing.T, old corev1.Pod) {
	deleted := time.Now()
	kubectl(t, "delete", "pod", old.Name, "-n", istiodNS, "--wait=false")
	var pod corev1.Pod
	var mcpFalse, mcpTrue, podSeenReady time.Time
	var notReadyMsg string
	deadline := deleted.Add(3 * time.Minute)
	for podSeenReady.IsZero() || mcpTrue.IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("3 minutes after deleting %s: new pod Ready at %v, mcp/basic not Ready at %v (%s), Ready again at %v", old.Name, podSeenReady, mcpFalse, notReadyMsg, mcpTrue)
		}
		if p, err := findIstiodPod(old.Name); err == nil {
			if c := podCondition(p, corev1.PodReady); c != nil && c.Status == corev1.ConditionTrue && podSeenReady.IsZero() {
				pod, podSeenReady = p, time.Now()
			}
		}
		var mcp meshv1alpha1.MeshControlPlane
		if err := getJSON(&mcp, "meshcontrolplane", "basic", "-n", istiodNS); err == nil {
			c := condition(mcp.Status.Conditions, meshv1alpha1.ConditionReady)
			switch {
			case c != nil && c.Status != metav1.ConditionTrue && mcpFalse.IsZero():
				mcpFalse, notReadyMsg = time.Now(), c.Message
			case c != nil && c.Status == metav1.ConditionTrue && !mcpFalse.IsZero() && mcpTrue.IsZero():
				mcpTrue = time.Now()
			case c != nil && c.Status == metav1.ConditionTrue && mcpFalse.IsZero() && !podSeenReady.IsZero():
				t.Fatalf("mcp/basic stayed Ready while istiod's only pod was replaced")
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	created := pod.CreationTimestamp.Time
	ready := podCondition(pod, corev1.PodReady).LastTransitionTime.Time
	var started time.Time
	if cs := pod.Status.ContainerStatuses; len(cs) == 1 && cs[0].State.Running != nil {
		started = cs[0].State.Running.StartedAt.Time
	}
	if started.IsZero() || started.Before(created) || ready.Before(started) {
		t.Fatalf("pod %s: created %s, started %s, Ready %s: out of order", pod.Name, created, started, ready)
	}
	checkIstiodProcess(t, pod)
	checkRootCert(t, "bookinfo")
	if time.Since(ready) < 30*time.Second {
		time.Sleep(30*time.Second - time.Since(ready))
	}
	rss := istiodRSS(t, pod)
	msg := fmt.Sprintf("istiod: measured: pod create -> Ready %s (container started after %s, /ready passing %s later; the pod's second-resolution timestamps); "+
		"after the delete: new pod Ready seen at %s, mcp/basic not Ready at %s (%q) and Ready again at %s; resident memory 30 s after Ready %.1f MiB",
		ready.Sub(created), started.Sub(created), ready.Sub(started), since(deleted, podSeenReady), since(deleted, mcpFalse), notReadyMsg,
		since(deleted, mcpTrue), float64(rss)/(1<<20))
	t.Log(msg)
	logf("%s", msg)
}

func since(from, to time.Time) string { return "+" + to.Sub(from).Round(100*time.Millisecond).String() }

// checkIstiodProcess finds pilot-discovery in the pod's container cgroup
// (run by the kubelet through containerd, as the image's uid 1337) and asks
// its readiness endpoint at the pod's address, the one the kubelet probes.
// No host process stands in for it.
func checkIstiodProcess(t *testing.T, pod corev1.Pod) {
	t.Helper()
	if c := podCondition(pod, corev1.PodReady); c == nil || c.Status != corev1.ConditionTrue {
		t.Fatalf("pod %s is not Ready: %+v", pod.Name, pod.Status.Conditions)
	}
	procs := containerProcesses(t, pod)["discovery"]
	if len(procs) != 1 || procs[0].Name() != "pilot-discovery" {
		t.Fatalf("container discovery runs %v, want one pilot-discovery", procs)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", procs[0].PID))
	if err != nil {
		t.Fatal(err)
	}
	if uid := strings.Fields(statusField(string(status), "Uid")); len(uid) != 4 || uid[0] != "1337" || uid[1] != "1337" {
		t.Errorf("pilot-discovery runs as uid %q, want 1337 (the image's user)", uid)
	}
	if p := pod.Spec.Containers[0].ReadinessProbe; p == nil || p.HTTPGet == nil {
		t.Fatal("istiod's pod has no httpGet readiness probe")
	}
	probe := pod.Spec.Containers[0].ReadinessProbe.HTTPGet
	url := "http://" + net.JoinHostPort(pod.Status.PodIP, probe.Port.String()) + probe.Path
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if code, body, err := httpGet(ctx, url); err != nil || code != 200 {
		t.Errorf("GET %s (the kubelet's probe): %d %v %s", url, code, err, body)
	}
	all, _ := host.Processes()
	for _, p := range all {
		if p.Name() == "host-istiod" {
			t.Errorf("a host-istiod runs (%s): the real node's istiod must be the pod's", p)
		}
	}
}

func istiodRSS(t *testing.T, pod corev1.Pod) int64 {
	t.Helper()
	procs := containerProcesses(t, pod)["discovery"]
	if len(procs) != 1 {
		t.Fatalf("container discovery runs %v", procs)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", procs[0].PID))
	if err != nil {
		t.Fatal(err)
	}
	kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(statusField(string(b), "VmRSS"), "kB")), 10, 64)
	if err != nil {
		t.Fatalf("VmRSS of pilot-discovery: %v", err)
	}
	return kb << 10
}
