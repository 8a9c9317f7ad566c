package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineInstanceSpec is KubeVirt's VirtualMachineInstanceSpec as
// VirtMesh runs it. JSON names match kubevirt.io/v1 exactly, and every
// KubeVirt field has an answer (docs/kubevirt-parity.md): implemented,
// accepted and ignored (with the reason in its doc), or declared here as
// Unsupported so the API server rejects it with a message naming the field
// and why. Defaults are the API server's (OpenAPI), so `kubectl get -o yaml`
// shows them: like KubeVirt, a VMI without networks and interfaces gets the
// pod network, bound with masquerade (VirtMesh's only binding).
//
// A VirtualMachine's template is one too; a VMI's spec is immutable (see
// VirtualMachineInstance.Spec).
//
// The cross-field rules below run on every write of a VMI, its status
// included (the API server validates the whole object), and each field step
// on a wide object costs the API server time in proportion to its number of
// properties (BenchmarkVMIAdmission, docs/performance.md): they step as few
// times as they can. domain (required), devices, interfaces and networks
// (defaulted) and volumes (required, at least one) are always there when
// they run, so they are not tested with has().
//
// +kubebuilder:validation:XValidation:rule="self.domain.devices.interfaces.all(i, self.networks.exists(n, n.name == i.name))",message="every interface in spec.domain.devices.interfaces needs a network of the same name in spec.networks: add the network or rename the interface",fieldPath=".domain.devices.interfaces"
// +kubebuilder:validation:XValidation:rule="self.networks.all(n, self.domain.devices.interfaces.exists(i, i.name == n.name))",message="every network in spec.networks needs an interface of the same name in spec.domain.devices.interfaces: add the interface or remove the network",fieldPath=".networks"
// +kubebuilder:validation:XValidation:rule="!has(self.domain.devices.disks) || self.domain.devices.disks.all(d, self.volumes.exists(v, v.name == d.name))",message="every disk in spec.domain.devices.disks needs a volume of the same name in spec.volumes: add the volume or rename the disk",fieldPath=".domain.devices.disks"
// +kubebuilder:validation:XValidation:rule="!self.volumes.exists(v, has(v.persistentVolumeClaim) && has(v.persistentVolumeClaim.readOnly) && v.persistentVolumeClaim.readOnly) || !has(self.domain.devices.disks) || self.domain.devices.disks.all(d, !has(d.disk) || !has(d.disk.bus) || d.disk.bus != 'sata' || !self.volumes.exists(v, v.name == d.name && has(v.persistentVolumeClaim) && has(v.persistentVolumeClaim.readOnly) && v.persistentVolumeClaim.readOnly))",message="a read-only persistentVolumeClaim cannot back a sata disk (QEMU's IDE disks have no write protection): use bus virtio or scsi",fieldPath=".domain.devices.disks"
type VirtualMachineInstanceSpec struct {
	// domain describes the virtual hardware: CPU, memory, firmware, disks and
	// interfaces.
	// +required
	Domain DomainSpec `json:"domain,omitempty,omitzero"`

	// networks the VM is connected to. VirtMesh supports one network, the pod
	// network (`pod: {}`), bound with masquerade; it is the default, as in
	// KubeVirt when a VMI names no networks and no interfaces.
	// +kubebuilder:default={{name: default, pod: {}}}
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="network names must be unique: rename or remove the duplicate network"
	// +kubebuilder:validation:XValidation:rule="self.size() <= 1",message="VirtMesh connects a VM to one network, the pod network: remove the other networks"
	// +listType=atomic
	// +optional
	Networks []Network `json:"networks,omitempty"`

	// volumes back the disks in spec.domain.devices.disks, matched by name. A
	// volume without a disk of the same name is attached as a virtio disk after
	// the listed ones, as KubeVirt does. Sources: containerDisk,
	// cloudInitNoCloud, persistentVolumeClaim and emptyDisk.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="volume names must be unique: rename or remove the duplicate volume"
	// +kubebuilder:validation:XValidation:rule="self.filter(v, has(v.cloudInitNoCloud)).size() <= 1",message="at most one cloudInitNoCloud volume is allowed: merge the user data into one volume"
	// +kubebuilder:validation:XValidation:rule="self.exists(v, has(v.containerDisk) || has(v.persistentVolumeClaim))",message="at least one bootable disk is needed to boot the VM: add a containerDisk volume (containerDisk.image) or a persistentVolumeClaim volume whose disk.img holds the boot disk"
	// +kubebuilder:validation:XValidation:rule="self.all(x, !has(x.persistentVolumeClaim) || self.exists_one(y, has(y.persistentVolumeClaim) && y.persistentVolumeClaim.claimName == x.persistentVolumeClaim.claimName))",message="each PersistentVolumeClaim may back one volume (they would share its disk.img): use another claim for the second volume"
	// +listType=atomic
	// +required
	Volumes []Volume `json:"volumes,omitempty"`

	// nodeSelector is copied to the launcher pod.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// tolerations are copied to the launcher pod.
	// +optional
	// +listType=atomic
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// affinity is copied to the launcher pod.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// topologySpreadConstraints are copied to the launcher pod.
	// +optional
	// +listType=atomic
	TopologySpreadConstraints []corev1.TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`

	// schedulerName is copied to the launcher pod.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	SchedulerName string `json:"schedulerName,omitempty"`

	// priorityClassName is copied to the launcher pod.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// dnsPolicy of the launcher pod; the guest gets the pod's resolvers and
	// search domains over DHCP.
	// +kubebuilder:validation:Enum=ClusterFirstWithHostNet;ClusterFirst;Default;None
	// +optional
	DNSPolicy corev1.DNSPolicy `json:"dnsPolicy,omitempty"`

	// dnsConfig of the launcher pod, handed to the guest over DHCP like the
	// rest of the pod's resolv.conf.
	// +optional
	DNSConfig *corev1.PodDNSConfig `json:"dnsConfig,omitempty"`

	// terminationGracePeriodSeconds is how long the guest gets to shut down
	// after an ACPI power-down before it is stopped hard. Defaults to 30.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`

	// hostname of the guest and of the launcher pod. Defaults to the VMI name.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Hostname string `json:"hostname,omitempty"`

	// subdomain gives the VM, with a headless Service of that name, the DNS name
	// <hostname>.<subdomain>.<namespace>.svc.
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +optional
	Subdomain string `json:"subdomain,omitempty"`

	// serviceAccountName is the ServiceAccount the launcher pod runs as, and
	// so the VM's workload identity in the mesh
	// (spiffe://<trust domain>/ns/<namespace>/sa/<serviceAccountName>).
	// Defaults to the namespace's "default" ServiceAccount.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`

	// architecture of the guest. VirtMesh's launcher runs x86_64 guests only.
	// +kubebuilder:validation:XValidation:rule="self == 'amd64'",message="VirtMesh runs amd64 (x86_64) guests only: set architecture: amd64 or leave it out"
	// +optional
	Architecture string `json:"architecture,omitempty"`

	// evictionStrategy - VirtMesh cannot live-migrate a VM, so an eviction (a
	// node drain) stops the VMI; a VirtualMachine with runStrategy Always starts
	// it again on another node. None and LiveMigrateIfPossible (which falls back
	// to that) are accepted; LiveMigrate and External are rejected.
	// +kubebuilder:validation:XValidation:rule="self in ['None', 'LiveMigrateIfPossible']",message="VirtMesh cannot live-migrate a VM: an eviction stops it (a VirtualMachine with runStrategy Always restarts it elsewhere); set evictionStrategy: None or leave it out"
	// +optional
	EvictionStrategy string `json:"evictionStrategy,omitempty"`

	// startStrategy is KubeVirt's Paused start. Not supported by VirtMesh:
	// nothing could resume the guest.
	// +kubebuilder:validation:XValidation:rule="false",message="startStrategy Paused is not supported by VirtMesh: nothing could resume the guest; remove it"
	// +optional
	StartStrategy string `json:"startStrategy,omitempty"`

	// livenessProbe checks the guest's service from inside the pod; when it
	// fails failureThreshold times in a row the run ends (QEMU is stopped,
	// the VMI fails with the probe's error, and a VirtualMachine starts a new
	// run).
	// +kubebuilder:validation:XValidation:rule="!has(self.successThreshold) || self.successThreshold <= 1",message="livenessProbe.successThreshold must be 1"
	// +optional
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`

	// readinessProbe checks the guest's service from inside the pod: the
	// launcher pod, and so the VMI, is Ready only while it succeeds, so the
	// Service and the mesh send traffic only to a guest that answers.
	// Without it, Ready means QEMU runs the guest, not that a service in it
	// answers.
	// +optional
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`

	// accessCredentials is KubeVirt's SSH key / password injection. Not
	// supported by VirtMesh: put the keys into cloudInitNoCloud user data.
	// +kubebuilder:validation:XValidation:rule="false",message="accessCredentials are not supported by VirtMesh: put SSH keys into the cloudInitNoCloud user data"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	AccessCredentials []Unsupported `json:"accessCredentials,omitempty"`

	// resourceClaims is KubeVirt's dynamic resource allocation for devices.
	// Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="resourceClaims are not supported by VirtMesh: it has no dynamic resource allocation for VMs"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	ResourceClaims []Unsupported `json:"resourceClaims,omitempty"`

	// utilityVolumes are KubeVirt's volumes for its own tools (e.g. memory
	// dumps). Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="utilityVolumes are not supported by VirtMesh"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	UtilityVolumes []Unsupported `json:"utilityVolumes,omitempty"`
}

// VirtualMachineInstancePhase is where the VMI is in its single run.
// +kubebuilder:validation:Enum=Pending;Scheduling;Scheduled;Running;Succeeded;Failed;Unknown
type VirtualMachineInstancePhase string

// VirtualMachineInstanceStatus is what the operator observed of the VMI's run.
type VirtualMachineInstanceStatus struct {
	// conditions are Ready, PodScheduled, MeshEnrolled, ProxyReady,
	// VolumesReady and Failure.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +patchStrategy=merge
	// +patchMergeKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`

	// phase of the run, with KubeVirt's meaning.
	// +optional
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`

	// interfaces of the VM as seen from the cluster: with masquerade the VM is
	// reached at the launcher pod's IP(s).
	// +optional
	// +listType=atomic
	Interfaces []VirtualMachineInstanceNetworkInterface `json:"interfaces,omitempty"`

	// nodeName is the node the launcher pod runs on.
	// +optional
	NodeName string `json:"nodeName,omitempty"`

	// launcherPod is the name of the virt-launcher pod running this VMI.
	// +optional
	LauncherPod string `json:"launcherPod,omitempty"`

	// meshSnapshot names the mesh injection settings snapshot the launcher pod
	// was rendered from, when the VMI is enrolled in the mesh.
	// +optional
	MeshSnapshot string `json:"meshSnapshot,omitempty"`

	// phaseTransitionTimestamps records when each phase was entered.
	// +optional
	// +listType=atomic
	PhaseTransitionTimestamps []PhaseTransitionTimestamp `json:"phaseTransitionTimestamps,omitempty"`

	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// VirtualMachineInstanceNetworkInterface is an interface of the VM as seen from
// the cluster.
type VirtualMachineInstanceNetworkInterface struct {
	// name of the interface in the spec.
	// +kubebuilder:validation:MinLength=1
	// +required
	Name string `json:"name,omitempty"`
	// ipAddress is the primary address the VM is reached at (the pod IP).
	// +optional
	IP string `json:"ipAddress,omitempty"`
	// ipAddresses are all addresses the VM is reached at (the pod IPs).
	// +listType=atomic
	// +optional
	IPs []string `json:"ipAddresses,omitempty"`
	// mac of the guest NIC.
	// +optional
	MAC string `json:"mac,omitempty"`
}

// PhaseTransitionTimestamp is when the VMI entered a phase.
type PhaseTransitionTimestamp struct {
	// phase entered.
	// +required
	Phase VirtualMachineInstancePhase `json:"phase,omitempty"`
	// phaseTransitionTimestamp is when it was entered.
	// +optional
	PhaseTransitionTimestamp metav1.Time `json:"phaseTransitionTimestamp,omitempty"`
}

// VirtualMachineInstance is one run of a virtual machine in a virt-launcher pod,
// optionally enrolled in the service mesh. Its YAML reads like KubeVirt's.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mvmi;mvmis,categories=virtmesh
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63",message="the VMI name must be at most 63 characters: it is the value of the launcher pod's virt.virtmesh.io/vmi label and the guest's default hostname"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="IP",type=string,JSONPath=`.status.interfaces[0].ipAddress`
// +kubebuilder:printcolumn:name="NodeName",type=string,JSONPath=`.status.nodeName`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Mesh",type=string,JSONPath=`.status.conditions[?(@.type=="MeshEnrolled")].status`
type VirtualMachineInstance struct {
	metav1.TypeMeta `json:",inline"`
	// metadata is the standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the VM to run. It is immutable: a VirtualMachineInstance is one
	// run of one VM and its launcher pod is rendered from the spec once.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a VirtualMachineInstance is one run of a VM; delete it and create a new one to change the VM (a VirtualMachine applies a changed template on its next run)"
	// +required
	Spec VirtualMachineInstanceSpec `json:"spec,omitzero"`
	// status is what the operator observed of the run.
	// +optional
	Status VirtualMachineInstanceStatus `json:"status,omitzero"`
}

// VirtualMachineInstanceList is a list of VirtualMachineInstances.
//
// +kubebuilder:object:root=true
type VirtualMachineInstanceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VirtualMachineInstance `json:"items"`
}

func init() {
	knownTypes = append(knownTypes, &VirtualMachineInstance{}, &VirtualMachineInstanceList{})
}
