// Package launcherpod renders the virt-launcher pod of a VirtualMachineInstance.
//
// RenderLauncherPod is pure: every lookup (the mesh enrollment decision, the
// injection settings snapshot, the operator's images) is resolved by the
// caller and passed in, so the same inputs always give the same pod and the
// golden tests in testdata/ show exactly what a cluster receives.
//
// The pod, in start order:
//
//	init  helper-install  copies the static virt-launcher binary into an emptyDir
//	init  net-setup       bridge k6t-eth0, tap0, the tun node compute attaches
//	                      through, masquerade NAT and, in the mesh, the proxy
//	                      redirection (the only container with NET_ADMIN/NET_RAW/MKNOD/CHOWN)
//	init  istio-proxy     mesh only: native sidecar (restartPolicy Always)
//	      compute         virt-launcher compute: QEMU, DHCP, QMP (uid 107)
//	      volume<name>    one per containerDisk: the user's image, running the
//	                      copied helper that hands the disk's fd to compute
//
// A persistentVolumeClaim volume is a pod volume mounted into compute, which
// keeps the disk as disk.img on it (see claims.go); an emptyDisk is a file
// compute creates in its run emptyDir.
package launcherpod

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
	"virtmesh.io/virtmesh/internal/podcontract"
)

const (
	// PodNamePrefix starts every launcher pod's name.
	PodNamePrefix = "virt-launcher-"

	// ComputeMemoryOverhead is added to the guest memory for the compute
	// container's request and limit: QEMU's own code, heap, page tables and
	// device emulation (~100Mi for a small virtio guest), the launcher and its
	// DHCP server (~30Mi) and headroom for the vCPU and I/O threads. KubeVirt
	// computes a similar per-VM overhead (about 180–250Mi for small VMs).
	ComputeMemoryOverhead = "192Mi"
	// DefaultGuestMemory is the guest memory when the VMI names none; it
	// matches the launcher's default.
	DefaultGuestMemory = "128Mi"

	// UnprivilegedPortStart is set as the pod's net.ipv4.ip_unprivileged_port_start
	// (a namespaced, "safe" sysctl) so compute, which runs as uid 107, can bind
	// the DHCP ports 67 and 547 on k6t-eth0 without relying on file capabilities.
	UnprivilegedPortStart = "67"
)

// Labels and annotations on launcher pods, besides the VMI's own labels.
const (
	LabelIstioInject           = "sidecar.istio.io/inject"
	LabelTLSMode               = "security.istio.io/tlsMode"
	LabelCanonicalName         = "service.istio.io/canonical-name"
	LabelCanonicalRevision     = "service.istio.io/canonical-revision"
	LabelIstioRev              = "istio.io/rev"
	AnnotationKubevirtIfaces   = "traffic.sidecar.istio.io/kubevirtInterfaces"
	AnnotationRerouteIfaces    = "istio.io/reroute-virtual-interfaces"
	AnnotationDefaultContainer = "kubectl.kubernetes.io/default-container"
	// AnnotationMeshSnapshot names the injection snapshot ConfigMap
	// ("<namespace>/<name>") the pod was rendered from; the controller reads
	// status.meshSnapshot back from it.
	AnnotationMeshSnapshot = "virt.virtmesh.io/mesh-snapshot"
	// AnnotationMeshControlPlane names the MeshControlPlane ("<namespace>/<name>")
	// whose proxy the pod runs.
	AnnotationMeshControlPlane = "virt.virtmesh.io/mesh-control-plane"
)

// Options are the renderer's inputs besides the VMI and the mesh: the
// operator-wide settings, and Claims, which the controller resolves for the
// VMI at hand.
type Options struct {
	// LauncherImage is the VirtMesh image (RELATED_IMAGE_LAUNCHER).
	LauncherImage string
	// KVMResource, when set (e.g. "devices.kubevirt.io/kvm"), is requested
	// (1) by compute so a device plugin puts /dev/kvm into the container.
	// Without it the launcher's --accel=auto falls back to TCG (software
	// emulation): slow but runnable on any node.
	KVMResource corev1.ResourceName
	// VMIPv6 gives VMs IPv6 in dual-stack pods (--vm-ipv6 in net-setup's
	// and compute's flags) and renders the pod sysctl
	// net.ipv6.conf.all.forwarding=1 that it needs: an unsafe sysctl, so
	// every kubelet must run with
	// --allowed-unsafe-sysctls=net.ipv6.conf.all.forwarding (otherwise it
	// rejects the pod). Off, VMs are IPv4-only.
	VMIPv6 bool
	// Claims are the VMI's PersistentVolumeClaims, by claim name, as the
	// controller found them; every persistentVolumeClaim volume needs one.
	Claims map[string]Claim
}

// PodName is the launcher pod's name for vmi: virt-launcher-<vmi>-<5 chars>.
// The suffix is derived from the VMI's UID, so it is the same on every
// attempt for one VMI (a retried or repeated create hits AlreadyExists instead
// of making a second pod) and differs for a new VMI of the same name.
func PodName(vmi *virtv1alpha1.VirtualMachineInstance) string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789" // generateName's alphabet
	sum := sha256.Sum256([]byte(vmi.UID))
	suffix := make([]byte, 5)
	for i := range suffix {
		suffix[i] = alphabet[int(sum[i])%len(alphabet)]
	}
	base := PodNamePrefix + vmi.Name + "-"
	if limit := validation.DNS1123SubdomainMaxLength - len(suffix); len(base) > limit {
		base = base[:limit]
	}
	return base + string(suffix)
}

// RenderLauncherPod renders vmi's launcher pod. mesh is the injection
// settings of the MeshControlPlane the VMI is enrolled in, or nil when the VMI
// is not in the mesh.
func RenderLauncherPod(vmi *virtv1alpha1.VirtualMachineInstance, mesh *injection.Settings, opts Options) (*corev1.Pod, error) {
	if opts.LauncherImage == "" {
		return nil, fmt.Errorf("no launcher image configured")
	}
	if vmi.UID == "" {
		return nil, fmt.Errorf("VMI %s/%s has no UID: render it only after the API server accepted it", vmi.Namespace, vmi.Name)
	}
	netCfg, err := NetworkConfig(vmi, mesh)
	if err != nil {
		return nil, err
	}
	// One value for net-setup, compute and the pod sysctl below.
	netCfg.IPv6 = opts.VMIPv6
	vmiJSON, err := vmiAnnotation(vmi)
	if err != nil {
		return nil, err
	}
	disks, err := persistentDisks(vmi, opts.Claims)
	if err != nil {
		return nil, err
	}
	compute, err := computeContainer(vmi, netCfg.VMNetwork, disks, opts)
	if err != nil {
		return nil, err
	}
	annotations, err := podAnnotations(vmi, vmiJSON, mesh)
	if err != nil {
		return nil, err
	}
	if err := apivalidation.ValidateAnnotationsSize(annotations); err != nil {
		return nil, fmt.Errorf("the VMI is too large to hand to its launcher pod in the %s annotation (%w): shorten spec.volumes[].cloudInitNoCloud userData or networkData", podcontract.VMIAnnotation, err)
	}

	pod := &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        PodName(vmi),
			Namespace:   vmi.Namespace,
			Labels:      podLabels(vmi, mesh),
			Annotations: annotations,
			Finalizers:  []string{virtv1alpha1.FinalizerLauncherPod},
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion:         virtv1alpha1.GroupVersion.String(),
				Kind:               "VirtualMachineInstance",
				Name:               vmi.Name,
				UID:                vmi.UID,
				Controller:         ptr.To(true),
				BlockOwnerDeletion: ptr.To(true),
			}},
		},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(podcontract.PodGracePeriodSeconds(vmi.Spec.TerminationGracePeriodSeconds)),
			Hostname:                      hostname(vmi),
			Subdomain:                     vmi.Spec.Subdomain,
			NodeSelector:                  vmi.Spec.NodeSelector,
			Tolerations:                   vmi.Spec.Tolerations,
			Affinity:                      vmi.Spec.Affinity,
			TopologySpreadConstraints:     vmi.Spec.TopologySpreadConstraints,
			SchedulerName:                 vmi.Spec.SchedulerName,
			PriorityClassName:             vmi.Spec.PriorityClassName,
			DNSPolicy:                     vmi.Spec.DNSPolicy,
			DNSConfig:                     vmi.Spec.DNSConfig,
			// The workload identity is the VMI's ServiceAccount. Neither the
			// VM nor the launcher talks to the API server, so its API token
			// is not mounted.
			ServiceAccountName:           serviceAccountName(vmi),
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			ImagePullSecrets:             pullSecrets(vmi),
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				Sysctls:        podSysctls(netCfg.VMNetwork),
			},
			Volumes: append(baseVolumes(), claimVolumes(vmi)...),
		},
	}
	claimSecurityContext(pod.Spec.SecurityContext, disks)

	pod.Spec.InitContainers = []corev1.Container{helperInstallContainer(opts), netSetupContainer(netCfg, opts)}
	if mesh != nil {
		proxy, err := proxyContainer(vmi, mesh, compute.Ports)
		if err != nil {
			return nil, err
		}
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, proxy)
		pod.Spec.Volumes = append(pod.Spec.Volumes, proxyVolumes(mesh)...)
	}
	pod.Spec.Containers = append([]corev1.Container{compute}, volumeContainers(vmi)...)
	return pod, nil
}

// podSysctls are the pod's namespaced sysctls, which the kubelet sets in the
// pod's network namespace before any container starts. With the VM's IPv6,
// IPv6 forwarding: nothing in the pod can set it (no netlink path, and
// /proc/sys is read-only in containers); net-setup checks it.
func podSysctls(n podcontract.VMNetwork) []corev1.Sysctl {
	s := []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: UnprivilegedPortStart}}
	if n.IPv6 {
		s = append(s, corev1.Sysctl{Name: podcontract.IPv6ForwardingSysctl, Value: "1"})
	}
	return s
}

// NetworkConfig is what net-setup applies for vmi: the VM network, its ports
// and, with mesh, the proxy's capture and the VMI's unproxied ports.
func NetworkConfig(vmi *virtv1alpha1.VirtualMachineInstance, mesh *injection.Settings) (podcontract.NetSetupOptions, error) {
	cfg := podcontract.DefaultNetSetupOptions()
	cfg.TunDevice = podcontract.TunDevicePath
	for _, n := range vmi.Spec.Networks {
		if n.Pod == nil {
			continue
		}
		if n.Pod.VMNetworkCIDR != "" {
			p, err := netip.ParsePrefix(n.Pod.VMNetworkCIDR)
			if err != nil {
				return cfg, fmt.Errorf("spec.networks[%s].pod.vmNetworkCIDR: %w", n.Name, err)
			}
			cfg.VMCIDR = p
		}
		if n.Pod.VMIPv6NetworkCIDR != "" {
			p, err := netip.ParsePrefix(n.Pod.VMIPv6NetworkCIDR)
			if err != nil {
				return cfg, fmt.Errorf("spec.networks[%s].pod.vmIPv6NetworkCIDR: %w", n.Name, err)
			}
			cfg.VMIPv6CIDR = p
		}
	}
	for _, ifc := range vmi.Spec.Domain.Devices.Interfaces {
		for _, p := range ifc.Ports {
			cfg.Ports = append(cfg.Ports, podcontract.Port{Protocol: protocol(p.Protocol), Port: uint16(p.Port)})
		}
	}
	unproxied, err := UnproxiedPorts(vmi)
	if err != nil {
		return cfg, err
	}
	if mesh != nil {
		m := &podcontract.MeshCapture{
			ProxyUID:             mesh.ProxyUID,
			ProxyGID:             mesh.ProxyGID,
			InboundCapturePort:   uint16(mesh.InboundCapturePort),
			OutboundCapturePort:  uint16(mesh.OutboundCapturePort),
			ExcludeInboundPorts:  ports16(mesh.ExcludeInboundPorts),
			IncludeOutboundCIDRs: mesh.IncludeOutboundIPRanges,
			ExcludeOutboundPorts: ports16(mesh.ExcludeOutboundPorts),
			UnproxiedPorts:       unproxied,
		}
		for _, r := range mesh.ExcludeOutboundIPRanges {
			p, err := netip.ParsePrefix(r)
			if err != nil {
				return cfg, fmt.Errorf("mesh %s/%s excludeOutboundIPRanges %q: %w", mesh.ControlPlaneNamespace, mesh.ControlPlaneName, r, err)
			}
			m.ExcludeOutboundCIDRs = append(m.ExcludeOutboundCIDRs, p)
		}
		cfg.Mesh = m
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("network of VMI %s/%s: %w", vmi.Namespace, vmi.Name, err)
	}
	return cfg, nil
}

// UnproxiedPorts parses the VMI's traffic.sidecar.istio.io/excludeInboundPorts
// annotation: ports DNATed straight into the VM, bypassing the proxy.
func UnproxiedPorts(vmi *virtv1alpha1.VirtualMachineInstance) ([]uint16, error) {
	raw, ok := vmi.Annotations[virtv1alpha1.AnnotationExcludeInboundPorts]
	if !ok || strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	var out []uint16
	for _, f := range strings.Split(raw, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("annotation %s=%q: %q is not a port number (1-65535); list ports separated by commas, e.g. \"22,9080\"", virtv1alpha1.AnnotationExcludeInboundPorts, raw, f)
		}
		out = append(out, uint16(n))
	}
	return out, nil
}

func protocol(p string) string {
	if p == "" {
		return string(corev1.ProtocolTCP)
	}
	return strings.ToUpper(p)
}

func ports16(in []int32) []uint16 {
	var out []uint16
	for _, p := range in {
		out = append(out, uint16(p))
	}
	return out
}

func hostname(vmi *virtv1alpha1.VirtualMachineInstance) string {
	h := vmi.Spec.Hostname
	if h == "" {
		h = vmi.Name
	}
	if len(h) > validation.DNS1123LabelMaxLength {
		h = h[:validation.DNS1123LabelMaxLength]
	}
	return strings.TrimRight(strings.ReplaceAll(h, ".", "-"), "-")
}

func podLabels(vmi *virtv1alpha1.VirtualMachineInstance, mesh *injection.Settings) map[string]string {
	l := map[string]string{}
	for k, v := range vmi.Labels {
		l[k] = v
	}
	l[virtv1alpha1.LabelVMI] = vmi.Name
	// The pod is never injected by Istio's webhook: VirtMesh renders the
	// proxy itself, together with the VM-aware traffic rules.
	l[LabelIstioInject] = "false"
	if mesh != nil {
		l[LabelTLSMode] = "istio"
		l[LabelCanonicalName] = firstLabel(vmi.Labels, vmi.Name, "service.istio.io/canonical-name", "app.kubernetes.io/name", "app")
		l[LabelCanonicalRevision] = firstLabel(vmi.Labels, "latest", "service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")
		rev := mesh.Revision
		if rev == "" {
			rev = "default"
		}
		l[LabelIstioRev] = rev
	}
	return l
}

func firstLabel(labels map[string]string, def string, keys ...string) string {
	for _, k := range keys {
		if v := labels[k]; v != "" {
			return v
		}
	}
	return def
}

// podAnnotations are the VMI's Istio annotations (istioAnnotations), the
// prometheus.io/* ones Istio's injector adds when metrics are merged, and the
// renderer's own, which win.
func podAnnotations(vmi *virtv1alpha1.VirtualMachineInstance, vmiJSON string, mesh *injection.Settings) (map[string]string, error) {
	a := istioAnnotations(vmi)
	if mesh != nil {
		merge, err := prometheusMerge(vmi, mesh)
		if err != nil {
			return nil, err
		}
		if merge {
			maps.Copy(a, prometheusAnnotations())
		}
		a[AnnotationMeshSnapshot] = mesh.ControlPlaneNamespace + "/" + mesh.SnapshotName()
		a[AnnotationMeshControlPlane] = mesh.ControlPlaneNamespace + "/" + mesh.ControlPlaneName
	}
	a[podcontract.VMIAnnotation] = vmiJSON
	a[AnnotationDefaultContainer] = podcontract.ContainerCompute
	a[AnnotationKubevirtIfaces] = podcontract.DefaultBridge
	a[AnnotationRerouteIfaces] = podcontract.DefaultBridge
	return a, nil
}

// vmiAnnotation is the VMI JSON the launcher reads (launcher.VMI's contract):
// apiVersion, kind, metadata name/namespace/uid and the spec.
func vmiAnnotation(vmi *virtv1alpha1.VirtualMachineInstance) (string, error) {
	doc := struct {
		APIVersion string                                  `json:"apiVersion"`
		Kind       string                                  `json:"kind"`
		Metadata   map[string]string                       `json:"metadata"`
		Spec       virtv1alpha1.VirtualMachineInstanceSpec `json:"spec"`
	}{
		APIVersion: virtv1alpha1.GroupVersion.String(),
		Kind:       "VirtualMachineInstance",
		Metadata:   map[string]string{"name": vmi.Name, "namespace": vmi.Namespace, "uid": string(vmi.UID)},
		Spec:       vmi.Spec,
	}
	// Not HTML-escaped: '<', '>' and '&' are common in user data (shell
	// redirections, "&&") and would take six bytes each.
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return "", fmt.Errorf("encode VMI for the launcher: %w", err)
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

func pullSecrets(vmi *virtv1alpha1.VirtualMachineInstance) []corev1.LocalObjectReference {
	var out []corev1.LocalObjectReference
	seen := map[string]bool{}
	for _, v := range vmi.Spec.Volumes {
		if v.ContainerDisk == nil || v.ContainerDisk.ImagePullSecret == "" || seen[v.ContainerDisk.ImagePullSecret] {
			continue
		}
		seen[v.ContainerDisk.ImagePullSecret] = true
		out = append(out, corev1.LocalObjectReference{Name: v.ContainerDisk.ImagePullSecret})
	}
	return out
}

func baseVolumes() []corev1.Volume {
	return []corev1.Volume{
		{Name: podcontract.HelperVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: podcontract.SocketsVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: podcontract.RunVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		// Disk-backed, not Medium: Memory: the kubelet's emptyDir directory
		// is on a filesystem that allows device nodes, a tmpfs it mounts
		// may not.
		{Name: podcontract.TunVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: podcontract.VMIVolumeName, VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
			Items: []corev1.DownwardAPIVolumeFile{{
				Path:     podcontract.VMIFileName,
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.annotations['" + podcontract.VMIAnnotation + "']"},
			}},
		}}},
	}
}

// smallResources are the equal requests and limits of the helper containers.
func smallResources() corev1.ResourceRequirements {
	rl := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("40Mi")}
	return corev1.ResourceRequirements{Requests: rl, Limits: rl.DeepCopy()}
}

// nonRoot is the security context of every container that runs as the qemu
// user with no capabilities.
func nonRoot() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                ptr.To[int64](podcontract.QEMUUID),
		RunAsGroup:               ptr.To[int64](podcontract.QEMUUID),
		RunAsNonRoot:             ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
}

func helperInstallContainer(opts Options) corev1.Container {
	return corev1.Container{
		Name:                     podcontract.ContainerHelperInstall,
		Image:                    opts.LauncherImage,
		Command:                  []string{podcontract.LauncherBinary},
		Args:                     podcontract.DiskHelperInstallArgs(),
		Resources:                smallResources(),
		SecurityContext:          nonRoot(),
		VolumeMounts:             []corev1.VolumeMount{{Name: podcontract.HelperVolumeName, MountPath: podcontract.HelperMountPath}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func netSetupContainer(cfg podcontract.NetSetupOptions, opts Options) corev1.Container {
	return corev1.Container{
		Name:      podcontract.ContainerNetSetup,
		Image:     opts.LauncherImage,
		Command:   []string{podcontract.LauncherBinary},
		Args:      append([]string{podcontract.SubcommandNetSetup}, cfg.Args()...),
		Resources: smallResources(),
		// The only container with NET_ADMIN/NET_RAW: it creates the bridge
		// and tap and programs NAT in the pod's network namespace, as root
		// (tap ownership and sysctls over rtnetlink), then exits before the
		// VM and the proxy start. MKNOD and CHOWN (also only here) make the
		// tun node in the tun emptyDir, owned by QEMU's uid: the runtime
		// gives no container /dev/net/tun, and compute must not need a
		// device plugin or any capability to reach the tap.
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](0),
			RunAsNonRoot:             ptr.To(false),
			AllowPrivilegeEscalation: ptr.To(false),
			ReadOnlyRootFilesystem:   ptr.To(true),
			Capabilities: &corev1.Capabilities{
				Add:  []corev1.Capability{"NET_ADMIN", "NET_RAW", "MKNOD", "CHOWN"},
				Drop: []corev1.Capability{"ALL"},
			},
		},
		VolumeMounts:             []corev1.VolumeMount{{Name: podcontract.TunVolumeName, MountPath: podcontract.TunMountPath}},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
}

func computeContainer(vmi *virtv1alpha1.VirtualMachineInstance, vmNet podcontract.VMNetwork, disks []podcontract.PersistentDisk, opts Options) (corev1.Container, error) {
	res, err := computeResources(vmi, opts)
	if err != nil {
		return corev1.Container{}, err
	}
	o := podcontract.DefaultComputeOptions()
	// The same VM network net-setup got: DHCP hands out what the NAT expects.
	o.VMNetwork = vmNet
	// A native sidecar proxy is stopped by the kubelet once compute exits,
	// so the launcher need not call /quitquitquit.
	o.StopProxyOnExit = false
	o.PersistentDisks = disks

	sc := nonRoot()
	// QEMU runs as uid 107 (KubeVirt's qemu user). NET_BIND_SERVICE is kept
	// for the DHCP server on :67/:547; the pod's
	// net.ipv4.ip_unprivileged_port_start sysctl makes binding work even
	// where the runtime does not raise a non-root process's capabilities.
	// /dev/kvm comes from a device plugin (Options.KVMResource), never from
	// privileged mode; without it the launcher runs the guest under TCG.
	// The root filesystem stays writable for QEMU's and the launcher's
	// temporary files outside the run emptyDir.
	sc.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"}
	sc.ReadOnlyRootFilesystem = ptr.To(false)

	var ports []corev1.ContainerPort
	for _, ifc := range vmi.Spec.Domain.Devices.Interfaces {
		for _, p := range ifc.Ports {
			ports = append(ports, corev1.ContainerPort{Name: p.Name, ContainerPort: p.Port, Protocol: corev1.Protocol(protocol(p.Protocol))})
		}
	}
	return corev1.Container{
		Name:            podcontract.ContainerCompute,
		Image:           opts.LauncherImage,
		Command:         []string{podcontract.LauncherBinary},
		Args:            append([]string{podcontract.SubcommandCompute}, o.Args()...),
		Ports:           ports,
		Resources:       res,
		SecurityContext: sc,
		ReadinessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
				Command: append([]string{podcontract.LauncherBinary}, podcontract.ReadinessProbeArgs(o.ReadyFile)...),
			}},
			PeriodSeconds:    2,
			TimeoutSeconds:   2,
			FailureThreshold: 3,
		},
		VolumeMounts: append([]corev1.VolumeMount{
			{Name: podcontract.SocketsVolumeName, MountPath: podcontract.SocketsMountPath},
			{Name: podcontract.RunVolumeName, MountPath: podcontract.RunMountPath},
			{Name: podcontract.VMIVolumeName, MountPath: podcontract.VMIMountPath, ReadOnly: true},
			// Read-only is enough: opening a device node for writing does
			// not write to the filesystem it is on.
			{Name: podcontract.TunVolumeName, MountPath: podcontract.TunMountPath, ReadOnly: true},
		}, claimMounts(disks)...),
		TerminationMessagePath:   o.TerminationLog,
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}, nil
}

// The guest memory a VMI may ask for: QEMU needs at least a MiB, and
// memory.guest has the same bounds in the CRD.
var (
	minGuestMemory = resource.MustParse("1Mi")
	maxGuestMemory = resource.MustParse("16Ti")
)

// computeResources: memory is the VM's (requests.memory, else memory.guest,
// else limits.memory, else DefaultGuestMemory) plus the overhead
// (ComputeMemoryOverhead and any memory.reservedOverhead.addedOverhead); with
// overcommitGuestOverhead the request leaves the overhead out, as KubeVirt
// does. A memory limit is the VMI's limit plus the overhead; cpu is copied.
func computeResources(vmi *virtv1alpha1.VirtualMachineInstance, opts Options) (corev1.ResourceRequirements, error) {
	overhead := resource.MustParse(ComputeMemoryOverhead)
	domain := vmi.Spec.Domain
	if m := domain.Memory; m != nil && m.ReservedOverhead != nil && m.ReservedOverhead.AddedOverhead != nil {
		overhead.Add(*m.ReservedOverhead.AddedOverhead)
	}
	vmRes := domain.Resources
	// The API server would refuse the pod, or QEMU the guest. The CRD checks
	// requests against limits too (VMIs stored before it may not be);
	// memory's range cannot be a CEL rule within the API server's cost
	// budget for quantities in a map.
	if req, ok := vmRes.Requests[corev1.ResourceCPU]; ok {
		if limit, ok := vmRes.Limits[corev1.ResourceCPU]; ok && req.Cmp(limit) > 0 {
			return corev1.ResourceRequirements{}, fmt.Errorf("spec.domain.resources.requests.cpu %s is above limits.cpu %s: lower the request or raise the limit", req.String(), limit.String())
		}
	}
	for _, l := range []struct {
		name string
		list corev1.ResourceList
	}{{"requests", vmRes.Requests}, {"limits", vmRes.Limits}} {
		if q, ok := l.list[corev1.ResourceMemory]; ok && (q.Cmp(minGuestMemory) < 0 || q.Cmp(maxGuestMemory) > 0) {
			return corev1.ResourceRequirements{}, fmt.Errorf("spec.domain.resources.%s.memory %s can be the guest's memory: it must be between %s and %s", l.name, q.String(), minGuestMemory.String(), maxGuestMemory.String())
		}
	}
	mem, ok := vmRes.Requests[corev1.ResourceMemory]
	switch {
	case ok:
	case domain.Memory != nil && domain.Memory.Guest != nil:
		mem = domain.Memory.Guest.DeepCopy()
	default:
		if mem, ok = vmRes.Limits[corev1.ResourceMemory]; !ok {
			mem = resource.MustParse(DefaultGuestMemory)
		}
	}
	reqMem := mem.DeepCopy()
	if !vmRes.OvercommitGuestOverhead {
		reqMem.Add(overhead)
	}
	out := corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceMemory: reqMem}}
	if cpu, ok := vmRes.Requests[corev1.ResourceCPU]; ok {
		out.Requests[corev1.ResourceCPU] = cpu.DeepCopy()
	}
	if len(vmRes.Limits) > 0 {
		out.Limits = corev1.ResourceList{}
		if l, ok := vmRes.Limits[corev1.ResourceMemory]; ok {
			lm := l.DeepCopy()
			lm.Add(overhead)
			if l.Cmp(mem) < 0 {
				return out, fmt.Errorf("spec.domain.resources.limits.memory %s is below the requested memory %s", l.String(), mem.String())
			}
			out.Limits[corev1.ResourceMemory] = lm
		}
		if l, ok := vmRes.Limits[corev1.ResourceCPU]; ok {
			out.Limits[corev1.ResourceCPU] = l.DeepCopy()
		}
	}
	if opts.KVMResource != "" {
		one := resource.MustParse("1")
		out.Requests[opts.KVMResource] = one
		if out.Limits == nil {
			out.Limits = corev1.ResourceList{}
		}
		out.Limits[opts.KVMResource] = one.DeepCopy()
	}
	return out, nil
}

func volumeContainers(vmi *virtv1alpha1.VirtualMachineInstance) []corev1.Container {
	var out []corev1.Container
	for _, v := range vmi.Spec.Volumes {
		if v.ContainerDisk == nil {
			continue
		}
		cmd := podcontract.DiskHelperCommand(v.Name, v.ContainerDisk.Path)
		out = append(out, corev1.Container{
			Name:            podcontract.VolumeContainerPrefix + v.Name,
			Image:           v.ContainerDisk.Image,
			ImagePullPolicy: v.ContainerDisk.ImagePullPolicy,
			Command:         cmd[:1],
			Args:            cmd[1:],
			Resources:       smallResources(),
			SecurityContext: nonRoot(),
			VolumeMounts: []corev1.VolumeMount{
				{Name: podcontract.HelperVolumeName, MountPath: podcontract.HelperMountPath, ReadOnly: true},
				{Name: podcontract.SocketsVolumeName, MountPath: podcontract.SocketsMountPath},
			},
			TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
		})
	}
	return out
}

// serviceAccountName is the VMI's ServiceAccount, "default" when it names
// none (named explicitly: the projected istio-ca token needs one).
func serviceAccountName(vmi *virtv1alpha1.VirtualMachineInstance) string {
	if vmi.Spec.ServiceAccountName != "" {
		return vmi.Spec.ServiceAccountName
	}
	return "default"
}
