package istio

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

const (
	meshNS  = "istio-system"
	appNS   = "bookinfo"
	mcpName = "basic"
	// detailsHost and detailsCluster are how Istio names the details
	// Service and its outbound cluster.
	detailsHost    = "details.bookinfo.svc.cluster.local"
	detailsCluster = "outbound|9080||" + detailsHost
)

// meshControlPlane is the suite's MeshControlPlane: STRICT mTLS, an ingress
// gateway, bookinfo as member.
const meshControlPlane = `apiVersion: mesh.virtmesh.io/v1alpha1
kind: MeshControlPlane
metadata:
  name: basic
  namespace: istio-system
spec:
  version: 1.30.0
  security:
    mtls: STRICT
  gateways:
    ingress:
      enabled: true
      serviceType: ClusterIP
  members:
    namespaces:
      - bookinfo
`

// vmiYAML is a Bookinfo VM serving port 9080 as its own ServiceAccount. The
// proxy.istio.io/config annotation must reach its proxy's agent.
func vmiYAML(name, app, version, sa string) string {
	return fmt.Sprintf(`apiVersion: virt.virtmesh.io/v1alpha1
kind: VirtualMachineInstance
metadata:
  name: %[1]s
  namespace: bookinfo
  labels:
    app: %[2]s
    version: %[3]s
  annotations:
    proxy.istio.io/config: '{"proxyMetadata": {"ISTIO_META_VIRTMESH_VM": "%[1]s"}}'
spec:
  serviceAccountName: %[4]s
  terminationGracePeriodSeconds: 5
  domain:
    resources:
      requests:
        memory: 128Mi
    devices:
      disks:
        - name: containerdisk
          disk:
            bus: virtio
      interfaces:
        - name: default
          masquerade: {}
          ports:
            - name: http
              port: 9080
  networks:
    - name: default
      pod: {}
  volumes:
    - name: containerdisk
      containerDisk:
        image: quay.io/kubevirt/cirros-container-disk-demo:v1.9.0
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: %[4]s
  namespace: bookinfo
`, name, app, version, sa)
}

// detailsV2Pod is a container pod of the details Service, labelled as
// Istio's injector labels an injected pod (no webhook runs here; its proxy is
// not needed to compare endpoints).
const detailsV2Pod = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: bookinfo-details
  namespace: bookinfo
---
apiVersion: v1
kind: Pod
metadata:
  name: details-v2
  namespace: bookinfo
  labels:
    app: details
    version: v2
    security.istio.io/tlsMode: istio
    service.istio.io/canonical-name: details
    service.istio.io/canonical-revision: v2
spec:
  serviceAccountName: bookinfo-details
  terminationGracePeriodSeconds: 5
  containers:
    - name: details
      image: docker.io/istio/examples-bookinfo-details-v2:1.20.3
      ports:
        - name: http
          containerPort: 9080
`

const services = `apiVersion: v1
kind: Service
metadata:
  name: details
  namespace: bookinfo
spec:
  selector:
    app: details
  ports:
    - name: http
      port: 9080
---
apiVersion: v1
kind: Service
metadata:
  name: productpage
  namespace: bookinfo
spec:
  selector:
    app: productpage
  ports:
    - name: http
      port: 9080
`

// applyMeshControlPlane creates the namespaces and the MeshControlPlane (or
// leaves them as they are).
func applyMeshControlPlane(t *testing.T) {
	t.Helper()
	kubectl(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+meshNS+"\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: "+appNS+"\n", "apply", "-f", "-")
	kubectl(t, meshControlPlane, "apply", "-f", "-")
}

func getMCP(t *testing.T) *meshv1alpha1.MeshControlPlane {
	t.Helper()
	m := &meshv1alpha1.MeshControlPlane{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: meshNS, Name: mcpName}, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// waitCondition waits for the MeshControlPlane's condition and returns it.
func waitCondition(t *testing.T, typ string, status metav1.ConditionStatus, reason string, timeout time.Duration) metav1.Condition {
	t.Helper()
	var c metav1.Condition
	eventually(t, timeout, fmt.Sprintf("MeshControlPlane %s=%s/%s", typ, status, reason), func() error {
		m := getMCP(t)
		cur := meta.FindStatusCondition(m.Status.Conditions, typ)
		if cur == nil || cur.Status != status || cur.Reason != reason || cur.ObservedGeneration != m.Generation {
			return fmt.Errorf("%s is %+v", typ, cur)
		}
		c = *cur
		return nil
	})
	return c
}

func setMTLS(t *testing.T, mode meshv1alpha1.MTLSMode) {
	t.Helper()
	eventually(t, 30*time.Second, "set security.mtls "+string(mode), func() error {
		m := getMCP(t)
		m.Spec.Security.MTLS = mode
		return k8s.Update(context.Background(), m)
	})
}

// runningPod waits for a Running pod with an IP matching the selector.
func runningPod(t *testing.T, ns, selector string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	eventually(t, 90*time.Second, fmt.Sprintf("a Running pod %s in %s", selector, ns), func() error {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil {
				pod = p
				return nil
			}
		}
		return fmt.Errorf("%d pods, none Running with an IP", len(pods.Items))
	})
	return pod
}

func launcherPod(t *testing.T, vmi string) *corev1.Pod {
	t.Helper()
	return runningPod(t, appNS, virtv1alpha1.LabelVMI+"="+vmi)
}

func waitVMIReady(t *testing.T, names ...string) {
	t.Helper()
	args := []string{"wait", "--for=condition=Ready", "-n", appNS, "--timeout=90s"}
	for _, n := range names {
		args = append(args, "virtualmachineinstances.virt.virtmesh.io/"+n)
	}
	kubectl(t, "", args...)
}

// gatewayAPICRDs are the Gateway API CRDs (standard and experimental, so
// the x-k8s group too) of the version the pinned Istio builds against.
func gatewayAPICRDs(t *testing.T) []string {
	t.Helper()
	dir, version := pinnedModule(t, "sigs.k8s.io/gateway-api")
	files, err := filepath.Glob(filepath.Join(dir, "config", "crd", "experimental", "gateway.networking*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no Gateway API CRDs in %s (%v)", dir, err)
	}
	t.Logf("Gateway API %s: %d CRDs", version, len(files))
	return files
}

// pinnedModule is the directory and version of a module as hack/tools/istio
// pins it (downloaded if needed).
func pinnedModule(t *testing.T, path string) (string, string) {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", path)
	cmd.Dir = filepath.Join(repoRoot, "hack", "tools", "istio")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download %s in hack/tools/istio: %v", path, err)
	}
	var mod struct{ Dir, Version string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: %v %s", path, err, out)
	}
	return mod.Dir, mod.Version
}

func contains(haystack, needle string) bool { return strings.Contains(haystack, needle) }
