package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/render/launcherpod"
)

// The images config/manager/manager.yaml gives the operator (and
// hack/local-cluster.sh passes on).
const (
	wantProxyImage    = "docker.io/istio/proxyv2:1.30.0"
	wantLauncherImage = "quay.io/virtmesh/virt-launcher:v0.1.0"
)

// TestSamples applies the README's samples, the Bookinfo mesh and its details
// service as a VM, and checks what a user sees and what Kubernetes got.
func TestSamples(t *testing.T) {
	t.Parallel()

	// The order of hack/local-cluster.sh up (make run-local): the mesh, then
	// the member namespace (labelled by the operator), then the VM. Applying
	// everything at once is TestMeshMemberCreatedWithVMI.
	samples := filepath.Join(repoRoot, "config/samples")
	kubectl(t, "apply", "-f", filepath.Join(samples, "mesh_v1alpha1_meshcontrolplane.yaml"))
	kubectl(t, "wait", "--for=condition=Ready", "mcp/basic", "-n", "istio-system", "--timeout=120s")
	kubectlIn(t, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bookinfo\n", "apply", "-f", "-")
	kubectl(t, "wait", "--for=jsonpath={.metadata.labels.mesh\\.virtmesh\\.io/member-of}=istio-system.basic", "namespace/bookinfo", "--timeout=60s")
	kubectl(t, "apply", "-f", filepath.Join(samples, "bookinfo-details-vm.yaml"))
	kubectl(t, "wait", "--for=condition=Ready", "virtualmachines.virt.virtmesh.io/details-v1", "-n", "bookinfo", "--timeout=120s")
	kubectl(t, "wait", "--for=condition=Ready", "virtualmachineinstances.virt.virtmesh.io/details-v1", "-n", "bookinfo", "--timeout=120s")

	var vmi virtv1alpha1.VirtualMachineInstance
	if err := getJSON([]string{"mvmi", "details-v1", "-n", "bookinfo"}, &vmi); err != nil {
		t.Fatal(err)
	}

	t.Run("get mvmi shows phase, IP, node, ready and mesh", func(t *testing.T) {
		row := getRow(t, "mvmi", "details-v1", "-n", "bookinfo")
		if row["PHASE"] != "Running" {
			t.Errorf("PHASE = %q, want Running (row %v)", row["PHASE"], row)
		}
		if ip := net.ParseIP(row["IP"]); ip == nil {
			t.Errorf("IP = %q, want an IP address (row %v)", row["IP"], row)
		}
		if !strings.HasPrefix(row["NODENAME"], "kwok-node-") {
			t.Errorf("NODENAME = %q, want one of the kwok nodes (row %v)", row["NODENAME"], row)
		}
		if row["READY"] != "True" {
			t.Errorf("READY = %q, want True (row %v)", row["READY"], row)
		}
		if row["MESH"] != "True" {
			t.Errorf("MESH = %q, want True: bookinfo is a member of mcp/basic (row %v)", row["MESH"], row)
		}
	})

	t.Run("get mvm shows the VM running and ready", func(t *testing.T) {
		row := getRow(t, "mvm", "details-v1", "-n", "bookinfo")
		if row["STATUS"] != string(virtv1alpha1.PrintableRunning) || row["READY"] != "True" {
			t.Errorf("kubectl get mvm details-v1: %v, want STATUS Running and READY True", row)
		}
		if ref := metav1.GetControllerOf(&vmi); ref == nil || ref.Kind != "VirtualMachine" || ref.Name != "details-v1" {
			t.Errorf("the VMI's controller is %+v, want VirtualMachine details-v1", ref)
		}
	})

	t.Run("get mcp shows ready, version and components", func(t *testing.T) {
		row := getRow(t, "mcp", "basic", "-n", "istio-system")
		if row["READY"] != "True" || row["VERSION"] != "1.30.0" || row["COMPONENTS"] == "" || row["COMPONENTS"] == "<none>" {
			t.Errorf("kubectl get mcp basic: %v, want READY True, VERSION 1.30.0 and COMPONENTS set", row)
		}
	})

	t.Run("describe shows conditions and events", func(t *testing.T) {
		for _, c := range []struct{ args []string }{
			{[]string{"mvmi", "details-v1", "-n", "bookinfo"}},
			{[]string{"mvm", "details-v1", "-n", "bookinfo"}},
			{[]string{"mcp", "basic", "-n", "istio-system"}},
		} {
			eventually(t, 30*time.Second, "kubectl describe "+strings.Join(c.args, " ")+" shows conditions and events", func() error {
				out, errOut, err := kubectlRun("", append([]string{"describe"}, c.args...)...)
				if err != nil {
					return fmt.Errorf("%v: %s", err, errOut)
				}
				if !strings.Contains(out, "Conditions:") || !strings.Contains(out, "Ready") {
					return fmt.Errorf("no Conditions with Ready:\n%s", out)
				}
				i := strings.LastIndex(out, "Events:")
				if i < 0 || strings.Contains(out[i:], "<none>") || strings.Count(strings.TrimSpace(out[i:]), "\n") < 2 {
					return fmt.Errorf("no events:\n%s", out)
				}
				return nil
			})
		}
	})

	pod := launcherPod(t, "bookinfo", "details-v1")

	t.Run("launcher pod has the four kinds of containers", func(t *testing.T) {
		init := map[string]corev1.Container{}
		var initOrder []string
		for _, c := range pod.Spec.InitContainers {
			init[c.Name] = c
			initOrder = append(initOrder, c.Name)
		}
		for _, name := range []string{podcontract.ContainerHelperInstall, podcontract.ContainerNetSetup, podcontract.ContainerProxy} {
			if _, ok := init[name]; !ok {
				t.Errorf("init container %q missing; init containers: %v", name, initOrder)
			}
		}
		if c, ok := init[podcontract.ContainerProxy]; ok {
			if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
				t.Errorf("%s is not a native sidecar: restartPolicy %v, want Always", c.Name, c.RestartPolicy)
			}
			if c.Image != wantProxyImage {
				t.Errorf("%s image %q, want %q", c.Name, c.Image, wantProxyImage)
			}
		}
		for _, name := range []string{podcontract.ContainerHelperInstall, podcontract.ContainerNetSetup} {
			if c, ok := init[name]; ok && c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				t.Errorf("init container %s has restartPolicy Always; want a run-to-completion init container", name)
			}
		}
		var names []string
		for _, c := range pod.Spec.Containers {
			names = append(names, c.Name)
		}
		if !slices.Contains(names, podcontract.ContainerCompute) {
			t.Errorf("container %q missing; containers: %v", podcontract.ContainerCompute, names)
		}
		// One volume container per containerDisk volume: volume<name>.
		for _, v := range vmi.Spec.Volumes {
			if v.ContainerDisk == nil {
				continue
			}
			want := podcontract.VolumeContainerPrefix + v.Name
			i := slices.Index(names, want)
			if i < 0 {
				t.Errorf("container %q for containerDisk volume %q missing; containers: %v", want, v.Name, names)
				continue
			}
			if img := pod.Spec.Containers[i].Image; img != v.ContainerDisk.Image {
				t.Errorf("container %s image %q, want the containerDisk image %q", want, img, v.ContainerDisk.Image)
			}
		}
		for _, c := range pod.Spec.Containers {
			if c.Name == podcontract.ContainerCompute && c.Image != wantLauncherImage {
				t.Errorf("compute image %q, want RELATED_IMAGE_LAUNCHER %q", c.Image, wantLauncherImage)
			}
		}
	})

	t.Run("launcher pod is owned by the VMI and matches its status", func(t *testing.T) {
		if !ownedBy(pod.OwnerReferences, string(vmi.UID)) {
			t.Errorf("pod %s ownerReferences %+v: none is the controller reference to VMI uid %s", pod.Name, pod.OwnerReferences, vmi.UID)
		}
		if pod.Labels[virtv1alpha1.LabelVMI] != "details-v1" {
			t.Errorf("pod label %s = %q, want details-v1", virtv1alpha1.LabelVMI, pod.Labels[virtv1alpha1.LabelVMI])
		}
		for _, k := range []string{"app", "version"} {
			if pod.Labels[k] != vmi.Labels[k] {
				t.Errorf("pod label %s = %q, want the VMI's %q (the Service selects it)", k, pod.Labels[k], vmi.Labels[k])
			}
		}
		if vmi.Status.NodeName != pod.Spec.NodeName {
			t.Errorf("VMI status.nodeName %q, pod on %q", vmi.Status.NodeName, pod.Spec.NodeName)
		}
		if len(vmi.Status.Interfaces) == 0 || vmi.Status.Interfaces[0].IP != pod.Status.PodIP {
			t.Errorf("VMI status.interfaces %+v, want the first one with the pod IP %s", vmi.Status.Interfaces, pod.Status.PodIP)
		}
		if vmi.Status.LauncherPod != "" && vmi.Status.LauncherPod != pod.Name {
			t.Errorf("VMI status.launcherPod %q, pod %q", vmi.Status.LauncherPod, pod.Name)
		}
	})

	t.Run("details Service endpoints select the launcher pod", func(t *testing.T) {
		eventually(t, 60*time.Second, "an EndpointSlice of Service details lists the launcher pod", func() error {
			var list discoveryv1.EndpointSliceList
			if err := getJSON([]string{"endpointslices", "-n", "bookinfo", "-l", "kubernetes.io/service-name=details"}, &list); err != nil {
				return err
			}
			for _, s := range list.Items {
				for _, ep := range s.Endpoints {
					if ep.TargetRef != nil && ep.TargetRef.Name == pod.Name && slices.Contains(ep.Addresses, pod.Status.PodIP) &&
						(ep.Conditions.Ready == nil || *ep.Conditions.Ready) {
						return nil
					}
				}
			}
			return fmt.Errorf("pod %s (%s) not a ready endpoint in %d slices: %+v", pod.Name, pod.Status.PodIP, len(list.Items), list.Items)
		})
	})

	t.Run("launcher pod carries the mesh settings of the MeshControlPlane", func(t *testing.T) {
		ref := pod.Annotations[launcherpod.AnnotationMeshSnapshot]
		ns, name, ok := strings.Cut(ref, "/")
		if !ok || ns != "istio-system" {
			t.Fatalf("annotation %s = %q, want istio-system/<snapshot>", launcherpod.AnnotationMeshSnapshot, ref)
		}
		if vmi.Status.MeshSnapshot != ref && vmi.Status.MeshSnapshot != name {
			t.Errorf("VMI status.meshSnapshot %q, pod annotation %q", vmi.Status.MeshSnapshot, ref)
		}
		var cm corev1.ConfigMap
		if err := getJSON([]string{"configmap", name, "-n", ns}, &cm); err != nil {
			t.Fatal(err)
		}
		if cm.Labels[injection.LabelSnapshot] != "true" || cm.Labels[injection.LabelControlPlane] != "basic" {
			t.Errorf("snapshot %s labels %v, want %s=true and %s=basic", ref, cm.Labels, injection.LabelSnapshot, injection.LabelControlPlane)
		}
		settings, err := injection.FromSnapshot(&cm)
		if err != nil {
			t.Fatal(err)
		}
		if settings.ProxyImage != wantProxyImage {
			t.Errorf("snapshot proxyImage %q, want %q", settings.ProxyImage, wantProxyImage)
		}
		if !strings.HasPrefix(settings.DiscoveryAddress, "istiod") || !strings.HasSuffix(settings.DiscoveryAddress, ".istio-system.svc:15012") {
			t.Errorf("snapshot discoveryAddress %q, want istiod*.istio-system.svc:15012", settings.DiscoveryAddress)
		}
		if settings.TrustDomain != "cluster.local" {
			t.Errorf("snapshot trustDomain %q, want cluster.local (spec.security.trustDomain)", settings.TrustDomain)
		}
		if !settings.HoldApplicationUntilProxyStarts {
			t.Errorf("snapshot holdApplicationUntilProxyStarts false; the sample sets it")
		}
		var proxy *corev1.Container
		for i := range pod.Spec.InitContainers {
			if pod.Spec.InitContainers[i].Name == podcontract.ContainerProxy {
				proxy = &pod.Spec.InitContainers[i]
			}
		}
		if proxy == nil {
			t.Fatalf("no %s init container", podcontract.ContainerProxy)
		}
		if proxy.Image != settings.ProxyImage {
			t.Errorf("istio-proxy image %q, snapshot %q", proxy.Image, settings.ProxyImage)
		}
		env := map[string]string{}
		for _, e := range proxy.Env {
			env[e.Name] = e.Value
		}
		if env["CA_ADDR"] != settings.DiscoveryAddress {
			t.Errorf("istio-proxy CA_ADDR %q, snapshot discoveryAddress %q", env["CA_ADDR"], settings.DiscoveryAddress)
		}
		var proxyConfig struct {
			DiscoveryAddress string `json:"discoveryAddress"`
		}
		if err := json.Unmarshal([]byte(env["PROXY_CONFIG"]), &proxyConfig); err != nil || proxyConfig.DiscoveryAddress != settings.DiscoveryAddress {
			t.Errorf("istio-proxy PROXY_CONFIG %q (%v): discoveryAddress %q, want %q", env["PROXY_CONFIG"], err, proxyConfig.DiscoveryAddress, settings.DiscoveryAddress)
		}
		if env["TRUST_DOMAIN"] != settings.TrustDomain {
			t.Errorf("istio-proxy TRUST_DOMAIN %q, snapshot %q", env["TRUST_DOMAIN"], settings.TrustDomain)
		}
		for k, want := range map[string]string{
			launcherpod.LabelTLSMode:           "istio",
			launcherpod.LabelCanonicalName:     "details",
			launcherpod.LabelCanonicalRevision: "v1",
		} {
			if pod.Labels[k] != want {
				t.Errorf("pod label %s = %q, want %q", k, pod.Labels[k], want)
			}
		}
	})

	t.Run("mesh components and member namespace", func(t *testing.T) {
		checkControlPlaneDeployments(t, "istio-system", "basic", []string{"istiod", "gateway", "prometheus", "kiali"})
		var ns corev1.Namespace
		if err := getJSON([]string{"namespace", "bookinfo"}, &ns); err != nil {
			t.Fatal(err)
		}
		if ns.Labels[meshv1alpha1.LabelInjection] != "enabled" || ns.Labels[meshv1alpha1.LabelMemberOf] != "istio-system.basic" {
			t.Errorf("namespace bookinfo labels %v, want %s=enabled and %s=istio-system.basic", ns.Labels, meshv1alpha1.LabelInjection, meshv1alpha1.LabelMemberOf)
		}
	})
}

// checkControlPlaneDeployments waits until the MeshControlPlane's Deployments
// (label mesh.virtmesh.io/control-plane=<mcp>) include one per wanted app
// (matched as a substring of the app label) and all are Available.
func checkControlPlaneDeployments(t *testing.T, ns, mcp string, apps []string) {
	t.Helper()
	eventually(t, 90*time.Second, fmt.Sprintf("Deployments of mcp %s/%s available", ns, mcp), func() error {
		var list appsv1.DeploymentList
		if err := getJSON([]string{"deployments", "-n", ns, "-l", meshLabelControlPlane + "=" + mcp}, &list); err != nil {
			return err
		}
		var have []string
		for _, d := range list.Items {
			have = append(have, d.Labels["app"])
			available := false
			for _, c := range d.Status.Conditions {
				if c.Type == appsv1.DeploymentAvailable && c.Status == corev1.ConditionTrue {
					available = true
				}
			}
			if !available {
				return fmt.Errorf("deployment %s not Available: %+v", d.Name, d.Status)
			}
		}
		for _, a := range apps {
			if !slices.ContainsFunc(have, func(h string) bool { return strings.Contains(h, a) }) {
				return fmt.Errorf("no deployment for %q; deployments' app labels: %v", a, have)
			}
		}
		return nil
	})
}

// meshLabelControlPlane is on everything a MeshControlPlane renders.
const meshLabelControlPlane = "mesh.virtmesh.io/control-plane"

// getRow runs `kubectl get <args>` (one object) and maps header to value.
func getRow(t *testing.T, args ...string) map[string]string {
	t.Helper()
	out := kubectl(t, append([]string{"get"}, args...)...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("kubectl get %s: want a header and one row, got:\n%s", strings.Join(args, " "), out)
	}
	header, row := strings.Fields(lines[0]), strings.Fields(lines[1])
	if len(header) != len(row) {
		t.Fatalf("kubectl get %s: %d columns, %d values (an empty column?):\n%s", strings.Join(args, " "), len(header), len(row), out)
	}
	m := map[string]string{}
	for i, h := range header {
		m[h] = row[i]
	}
	return m
}

func ownedBy(refs []metav1.OwnerReference, uid string) bool {
	for _, r := range refs {
		if string(r.UID) == uid && r.Controller != nil && *r.Controller {
			return true
		}
	}
	return false
}

// launcherPods lists the pods labelled as vmi's launcher pods.
func launcherPods(ns, vmi string) ([]corev1.Pod, error) {
	var list corev1.PodList
	if err := getJSON([]string{"pods", "-n", ns, "-l", virtv1alpha1.LabelVMI + "=" + vmi}, &list); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// launcherPod returns vmi's only launcher pod.
func launcherPod(t *testing.T, ns, vmi string) corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	eventually(t, 30*time.Second, "one launcher pod for "+ns+"/"+vmi, func() error {
		pods, err := launcherPods(ns, vmi)
		if err != nil {
			return err
		}
		if len(pods) != 1 {
			return fmt.Errorf("%d pods labelled %s=%s", len(pods), virtv1alpha1.LabelVMI, vmi)
		}
		pod = pods[0]
		return nil
	})
	return pod
}
