package launcherpod

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
	"virtmesh.io/virtmesh/internal/testing/golden"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

const testUID = "6f1c3a52-0d2e-4b8e-9a51-3c1b2f7d9e10"

var testOpts = Options{LauncherImage: "quay.io/virtmesh/virt-launcher:v0.1.0"}

func testSettings() *injection.Settings {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	return &injection.Settings{
		ControlPlaneNamespace: "istio-system", ControlPlaneName: "basic",
		ProxyImage:     "docker.io/istio/proxyv2:1.30.0",
		ProxyResources: corev1.ResourceRequirements{Requests: rl, Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("1Gi")}},
		ProxyLogLevel:  "warning", DiscoveryAddress: "istiod.istio-system.svc:15012", ClusterID: "Kubernetes",
		ClusterDomain: "cluster.local", EnablePrometheusMerge: true,
		ProxyConfig: map[string]any{
			"discoveryAddress": "istiod.istio-system.svc:15012", "holdApplicationUntilProxyStarts": false,
			"proxyMetadata": map[string]any{"ISTIO_META_CLUSTER_ID": "Kubernetes"},
			"tracing":       map[string]any{"sampling": 1.0, "zipkin": map[string]any{"address": "zipkin.istio-system.svc:9411"}},
		},
		TrustDomain: "cluster.local", RootCertConfigMap: "istio-ca-root-cert",
		ProxyUID: 1337, ProxyGID: 1337, InboundCapturePort: 15006, OutboundCapturePort: 15001,
		IncludeOutboundIPRanges: []string{"*"},
		ExcludeOutboundIPRanges: []string{"169.254.169.254/32"},
		ExcludeInboundPorts:     []int32{8081},
		ExcludeOutboundPorts:    []int32{25},
	}
}

func details() *vb.VMIWrapper {
	return vb.MakeVMI("details-v1").Namespace("bookinfo").UID(testUID).
		Label("app", "details").Label("version", "v1").
		GracePeriod(60).Hostname("details", "").Cores(1).Memory("256Mi").
		Request("memory", "256Mi").Request("cpu", "250m").Port("http", 9080)
}

func TestRenderGolden(t *testing.T) {
	hold := testSettings()
	hold.HoldApplicationUntilProxyStarts = true
	ipv6 := testOpts
	ipv6.VMIPv6 = true
	hold.ProxyConfig["holdApplicationUntilProxyStarts"] = true
	claimOpts := testOpts
	claimOpts.Claims = map[string]Claim{"ratings-data": {Capacity: resource.MustParse("1Gi")}, "ratings-seed": {Capacity: resource.MustParse("512Mi")}}
	cases := map[string]struct {
		vmi  *virtv1alpha1.VirtualMachineInstance
		mesh *injection.Settings
		opts *Options // testOpts when nil
	}{
		"plain": {vmi: vb.MakeVMI("cirros").UID(testUID).Label("app", "cirros").GracePeriod(30).Obj()},
		"mesh-enrolled": {
			vmi:  details().CloudInit("cloudinitdisk", "#!/bin/sh\necho hi\n").Obj(),
			mesh: testSettings(),
		},
		"two-containerdisks-cloudinit": {
			vmi: vb.MakeVMI("fedora").Namespace("apps").UID(testUID).ServiceAccount("fedora-vm").
				ContainerDisk("datadisk", "registry.example.com/disks/data:1", "/disk/data.qcow2").
				CloudInit("cloudinitdisk", "#cloud-config\npassword: fedora\n").
				NodeSelector("kubernetes.io/arch", "amd64").Hostname("fedora", "vms").
				Limit("memory", "1Gi").Limit("cpu", "2").Request("cpu", "1").Obj(),
		},
		"custom-ports": {
			vmi: vb.MakeVMI("web").Namespace("apps").UID(testUID).Label("app", "web").
				Port("http", 8080).PortProto("dns", "UDP", 53).Port("", 2222).
				VMNetworkCIDR("10.200.0.0/24", "fd20::/120").MAC("02:ab:cd:ef:00:01").Obj(),
		},
		// The VMI opted out, so the controller passes no settings: no proxy,
		// no redirection, no mesh labels.
		"opt-out": {vmi: details().NoMesh().Obj()},
		// The VM's own Istio annotations reach the pod and its proxy, in
		// another cluster domain, as its own ServiceAccount.
		"istio-annotations": {
			vmi: details().ServiceAccount("details").
				Annotation(AnnotationProxyConfig, "proxyMetadata:\n  ISTIO_META_DNS_CAPTURE: \"true\"\nconcurrency: 1\n").
				Annotation("sidecar.istio.io/logLevel", "debug").Annotation("example.com/not-istio", "dropped").Obj(),
			mesh: func() *injection.Settings { s := testSettings(); s.ClusterDomain = "corp.example"; return s }(),
		},
		"hold-application-until-proxy-starts": {
			vmi: details().Annotation(virtv1alpha1.AnnotationExcludeInboundPorts, " 9443").
				PortProto("", "TCP", 9443).Obj(),
			mesh: hold,
		},
		// The operator runs with --vm-ipv6: the VM gets IPv6 and the pod
		// the sysctl it needs.
		"vm-ipv6": {vmi: details().Obj(), mesh: testSettings(), opts: &ipv6},
		// A claim the guest writes, a read-only one and a scratch disk: the
		// claims are pod volumes mounted into compute (fsGroup 107), their
		// sizes compute's flags; the emptyDisk needs nothing in the pod.
		"persistent-disks": {
			vmi: vb.MakeVMI("ratings").Namespace("bookinfo").UID(testUID).
				PVC("data", "ratings-data", false).PVC("seed", "ratings-seed", true).EmptyDisk("scratch", "2Gi").Obj(),
			opts: &claimOpts,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			opts := testOpts
			if tc.opts != nil {
				opts = *tc.opts
			}
			pod, err := RenderLauncherPod(tc.vmi, tc.mesh, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(pod)
			if err != nil {
				t.Fatal(err)
			}
			golden.Assert(t, filepath.Join("testdata", name+".yaml"), got)
			checkInvariants(t, pod, tc.mesh != nil)
		})
	}
}

// checkInvariants asserts what every launcher pod must hold, independent of
// the golden text.
func checkInvariants(t *testing.T, pod *corev1.Pod, enrolled bool) {
	t.Helper()
	if pod.Spec.Containers[0].Name != podcontract.ContainerCompute {
		t.Errorf("first container = %s, want compute", pod.Spec.Containers[0].Name)
	}
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		var caps []corev1.Capability
		if c.SecurityContext != nil && c.SecurityContext.Capabilities != nil {
			caps = c.SecurityContext.Capabilities.Add
			if len(c.SecurityContext.Capabilities.Drop) != 1 || c.SecurityContext.Capabilities.Drop[0] != "ALL" {
				t.Errorf("%s does not drop ALL capabilities", c.Name)
			}
		} else {
			t.Errorf("%s has no capabilities set", c.Name)
		}
		for _, cp := range caps {
			if (cp == "NET_ADMIN" || cp == "NET_RAW" || cp == "MKNOD" || cp == "CHOWN") && c.Name != podcontract.ContainerNetSetup {
				t.Errorf("%s has %s; only net-setup may", c.Name, cp)
			}
		}
	}
	// net-setup args round-trip through the contract's parser.
	ns := pod.Spec.InitContainers[1]
	cfg, err := podcontract.ParseNetSetupArgs(ns.Args[1:])
	if err != nil {
		t.Fatalf("net-setup args do not parse: %v", err)
	}
	// compute opens the tun node net-setup makes, through the shared
	// volume: writable in net-setup, mounted in both.
	co, err := podcontract.ParseComputeArgs(pod.Spec.Containers[0].Args[1:])
	if err != nil {
		t.Fatalf("compute args do not parse: %v", err)
	}
	if cfg.TunDevice == "" || co.TunDevice != cfg.TunDevice {
		t.Errorf("net-setup --tun-device=%q, compute --tun-device=%q: want the same node", cfg.TunDevice, co.TunDevice)
	}
	// compute's DHCP server hands out exactly the network net-setup NATs.
	if cfg.VMNetwork != co.VMNetwork {
		t.Errorf("net-setup VM network %+v, compute VM network %+v: want the same", cfg.VMNetwork, co.VMNetwork)
	}
	// The VM's IPv6 and the pod sysctl it needs come from one decision,
	// and the operator reads it back from the pod.
	sysctl := false
	for _, s := range pod.Spec.SecurityContext.Sysctls {
		if s.Name == podcontract.IPv6ForwardingSysctl && s.Value == "1" {
			sysctl = true
		}
	}
	if sysctl != cfg.IPv6 || VMHasIPv6(pod) != cfg.IPv6 {
		t.Errorf("net-setup --vm-ipv6=%v, pod sysctl %s=1 %v, read back %v: want all equal", cfg.IPv6, podcontract.IPv6ForwardingSysctl, sysctl, VMHasIPv6(pod))
	}
	for _, c := range []corev1.Container{ns, pod.Spec.Containers[0]} {
		mounted := false
		for _, m := range c.VolumeMounts {
			if m.Name == podcontract.TunVolumeName && strings.HasPrefix(cfg.TunDevice, m.MountPath+"/") {
				mounted = true
				if c.Name == podcontract.ContainerNetSetup && m.ReadOnly {
					t.Errorf("net-setup mounts %s read-only", m.Name)
				}
			}
		}
		if !mounted {
			t.Errorf("%s does not mount %s at the directory of %s", c.Name, podcontract.TunVolumeName, cfg.TunDevice)
		}
	}
	if (cfg.Mesh != nil) != enrolled {
		t.Errorf("net-setup mesh = %v, want enrolled=%v", cfg.Mesh != nil, enrolled)
	}
	hasProxy := len(pod.Spec.InitContainers) == 3 && pod.Spec.InitContainers[2].Name == podcontract.ContainerProxy
	if hasProxy != enrolled {
		t.Errorf("proxy present = %v, want %v: proxy and redirection must come from one decision", hasProxy, enrolled)
	}
	if hasProxy && (pod.Spec.InitContainers[2].RestartPolicy == nil || *pod.Spec.InitContainers[2].RestartPolicy != corev1.ContainerRestartPolicyAlways) {
		t.Errorf("istio-proxy is not a native sidecar")
	}
	if _, ok := pod.Annotations[podcontract.VMIAnnotation]; !ok {
		t.Errorf("no %s annotation", podcontract.VMIAnnotation)
	}
	checkClaims(t, pod, co)
}

// checkClaims: each --persistent-disk path is on a mount of that volume's
// claim in compute, read-only exactly when the flag says so, and the pod
// has fsGroup 107 exactly when it mounts a claim.
func checkClaims(t *testing.T, pod *corev1.Pod, co podcontract.ComputeOptions) {
	t.Helper()
	claims := map[string]*corev1.PersistentVolumeClaimVolumeSource{}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim
		}
	}
	if len(claims) != len(co.PersistentDisks) {
		t.Errorf("%d claim volumes, %d --persistent-disk flags: want one each", len(claims), len(co.PersistentDisks))
	}
	for _, d := range co.PersistentDisks {
		name := podcontract.PVCVolumeName(d.Volume)
		mounted := false
		for _, m := range pod.Spec.Containers[0].VolumeMounts {
			if m.Name == name && strings.HasPrefix(d.Path, m.MountPath+"/") {
				mounted = m.ReadOnly == d.ReadOnly
			}
		}
		if c := claims[name]; !mounted || c == nil || c.ReadOnly != d.ReadOnly {
			t.Errorf("--persistent-disk %s: want compute to mount claim volume %s at its directory, read-only %v (claim %+v)", d, name, d.ReadOnly, c)
		}
	}
	fsGroup := pod.Spec.SecurityContext.FSGroup
	if (fsGroup != nil) != (len(claims) > 0) || fsGroup != nil && *fsGroup != podcontract.QEMUUID {
		t.Errorf("fsGroup %v with %d claims: want %d exactly when the pod mounts a claim", fsGroup, len(claims), podcontract.QEMUUID)
	}
}

func TestDiskImageSize(t *testing.T) {
	for capacity, want := range map[string]int64{
		"1Gi":  967 << 20, // 1024Mi less 5.5% is 967.68Mi
		"10Gi": 9676 << 20,
		"1G":   901 << 20,
		"2Mi":  1 << 20,
		"1Mi":  0,
	} {
		if got := DiskImageSize(resource.MustParse(capacity)); got != want {
			t.Errorf("DiskImageSize(%s) = %d, want %d", capacity, got, want)
		}
	}
}

func TestPodNameDeterministic(t *testing.T) {
	a := vb.MakeVMI("x").UID(testUID).Obj()
	if PodName(a) != PodName(a.DeepCopy()) {
		t.Fatalf("pod name differs between attempts")
	}
	b := vb.MakeVMI("x").UID("another-uid").Obj()
	if PodName(a) == PodName(b) {
		t.Errorf("a new VMI with the same name got the same pod name %s", PodName(a))
	}
	if !strings.HasPrefix(PodName(a), "virt-launcher-x-") || len(PodName(a)) != len("virt-launcher-x-")+5 {
		t.Errorf("pod name = %s", PodName(a))
	}
	long := vb.MakeVMI(strings.Repeat("a", 253)).UID(testUID).Obj()
	if n := PodName(long); len(n) > 253 {
		t.Errorf("pod name too long: %d", len(n))
	}
}

func TestRenderErrors(t *testing.T) {
	cases := map[string]struct {
		vmi  *virtv1alpha1.VirtualMachineInstance
		opts Options
		want string
	}{
		"no image":                {vmi: vb.MakeVMI("x").UID(testUID).Obj(), want: "no launcher image"},
		"no uid":                  {vmi: vb.MakeVMI("x").Obj(), opts: testOpts, want: "has no UID"},
		"bad annotation":          {vmi: vb.MakeVMI("x").UID(testUID).Annotation(virtv1alpha1.AnnotationExcludeInboundPorts, "22,ssh").Obj(), opts: testOpts, want: `"ssh" is not a port number`},
		"limit below req":         {vmi: vb.MakeVMI("x").UID(testUID).Request("memory", "1Gi").Limit("memory", "512Mi").Obj(), opts: testOpts, want: "below the requested memory"},
		"cpu request above limit": {vmi: vb.MakeVMI("x").UID(testUID).Request("cpu", "2").Limit("cpu", "1").Obj(), opts: testOpts, want: "requests.cpu 2 is above limits.cpu 1"},
		"memory below 1Mi":        {vmi: vb.MakeVMI("x").UID(testUID).Request("memory", "1").Obj(), opts: testOpts, want: "must be between 1Mi and 16Ti"},
		"memory above 16Ti":       {vmi: vb.MakeVMI("x").UID(testUID).Request("memory", "8Ei").Obj(), opts: testOpts, want: "must be between 1Mi and 16Ti"},
		// 32768 control characters are 196 KiB of JSON escapes: two such
		// documents exceed the API server's 256 KiB for all annotations.
		"too large":          {vmi: vb.MakeVMI("x").UID(testUID).CloudInit("c", strings.Repeat("\x01", 32768)+strings.Repeat("\x02", 32768)).Obj(), opts: testOpts, want: "too large to hand to its launcher pod"},
		"claim not resolved": {vmi: vb.MakeVMI("x").UID(testUID).PVC("data", "data", false).Obj(), opts: testOpts, want: "PersistentVolumeClaim data was not resolved"},
		"claim too small": {vmi: vb.MakeVMI("x").UID(testUID).PVC("data", "data", false).Obj(), opts: withClaims(map[string]Claim{"data": {Capacity: resource.MustParse("1Mi")}}),
			want: "too small for a disk (at least 2Mi): request more storage"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := RenderLauncherPod(tc.vmi, testSettings(), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want containing %q", err, tc.want)
			}
		})
	}
}

func withClaims(c map[string]Claim) Options {
	o := testOpts
	o.Claims = c
	return o
}

func TestKVMResource(t *testing.T) {
	opts := testOpts
	opts.KVMResource = "devices.kubevirt.io/kvm"
	pod, err := RenderLauncherPod(vb.MakeVMI("x").UID(testUID).Obj(), nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := pod.Spec.Containers[0].Resources
	if q := r.Limits["devices.kubevirt.io/kvm"]; q.Value() != 1 {
		t.Errorf("kvm limit = %v", r.Limits)
	}
}

// The shipped samples render (with and without the mesh); a VirtualMachine
// renders its template. A sample's PersistentVolumeClaims are resolved as the
// controller resolves an unbound claim: from the storage they request.
func TestRenderSamples(t *testing.T) {
	for _, f := range []string{"virt_v1alpha1_virtualmachineinstance.yaml", "virt_v1alpha1_virtualmachine.yaml", "bookinfo-details-vm.yaml", "counter-vm-pvc.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "samples", f))
		if err != nil {
			t.Fatal(err)
		}
		docs := strings.Split(string(b), "\n---")
		opts := testOpts
		opts.Claims = sampleClaims(t, f, docs)
		found := false
		for _, doc := range docs {
			vmi := sampleVMI(t, f, doc)
			if vmi == nil {
				continue
			}
			found = true
			for _, mesh := range []*injection.Settings{nil, testSettings()} {
				pod, err := RenderLauncherPod(vmi, mesh, opts)
				if err != nil {
					t.Fatalf("%s (mesh %v): %v", f, mesh != nil, err)
				}
				checkInvariants(t, pod, mesh != nil)
			}
		}
		if !found {
			t.Errorf("%s has no VirtualMachineInstance or VirtualMachine", f)
		}
	}
}

// sampleClaims are the PersistentVolumeClaims among a sample's documents,
// by name, with their requested storage as the capacity.
func sampleClaims(t *testing.T, file string, docs []string) map[string]Claim {
	t.Helper()
	out := map[string]Claim{}
	for _, doc := range docs {
		if !strings.Contains(doc, "kind: PersistentVolumeClaim\n") {
			continue
		}
		pvc := &corev1.PersistentVolumeClaim{}
		if err := yaml.UnmarshalStrict([]byte(doc), pvc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out[pvc.Name] = Claim{Capacity: pvc.Spec.Resources.Requests[corev1.ResourceStorage]}
	}
	return out
}

// sampleVMI is the VMI a sample document runs: the VMI itself, or a
// VirtualMachine's template; nil for other kinds.
func sampleVMI(t *testing.T, file, doc string) *virtv1alpha1.VirtualMachineInstance {
	t.Helper()
	var vmi *virtv1alpha1.VirtualMachineInstance
	switch {
	case strings.Contains(doc, "kind: VirtualMachineInstance"):
		vmi = &virtv1alpha1.VirtualMachineInstance{}
		if err := yaml.UnmarshalStrict([]byte(doc), vmi); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	case strings.Contains(doc, "kind: VirtualMachine\n"):
		vm := &virtv1alpha1.VirtualMachine{}
		if err := yaml.UnmarshalStrict([]byte(doc), vm); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		vmi = &virtv1alpha1.VirtualMachineInstance{
			ObjectMeta: metav1.ObjectMeta{Name: vm.Name, Namespace: vm.Namespace, Labels: vm.Spec.Template.ObjectMeta.Labels},
			Spec:       vm.Spec.Template.Spec,
		}
	default:
		return nil
	}
	vmi.UID = testUID
	return vmi
}

func TestVMHasIPv6(t *testing.T) {
	for _, on := range []bool{false, true} {
		opts := testOpts
		opts.VMIPv6 = on
		pod, err := RenderLauncherPod(details().Obj(), nil, opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := VMHasIPv6(pod); got != on {
			t.Errorf("VMHasIPv6 = %v for a pod rendered with VMIPv6 %v", got, on)
		}
	}
	if VMHasIPv6(&corev1.Pod{}) {
		t.Error("VMHasIPv6 = true for a pod without a compute container")
	}
}
