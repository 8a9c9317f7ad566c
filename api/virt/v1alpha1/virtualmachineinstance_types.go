package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VirtualMachineInstanceSpec is the subset of KubeVirt's VirtualMachineInstanceSpec
// that VirtMesh runs. JSON names match kubevirt.io/v1 exactly. Fields KubeVirt has
// and VirtMesh does not support are either declared here as Unsupported (so the
// API server rejects them with a message naming the field) or unknown to the schema
// (so `kubectl apply`, which uses strict field validation, rejects them).
//
// The whole spec is immutable: a VirtualMachineInstance is one run of one VM and
// its launcher pod is rendered from the spec once.
//
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a VirtualMachineInstance is one run of a VM; delete it and create a new one to change the VM"
// +kubebuilder:validation:XValidation:rule="self.domain.devices.interfaces.all(i, self.networks.exists(n, n.name == i.name))",message="every interface in spec.domain.devices.interfaces needs a network of the same name in spec.networks: add the network or rename the interface",fieldPath=".domain.devices.interfaces"
// +kubebuilder:validation:XValidation:rule="self.networks.all(n, self.domain.devices.interfaces.exists(i, i.name == n.name))",message="every network in spec.networks needs an interface of the same name in spec.domain.devices.interfaces: add the interface or remove the network",fieldPath=".networks"
// +kubebuilder:validation:XValidation:rule="self.domain.devices.disks.all(d, self.volumes.exists(v, v.name == d.name))",message="every disk in spec.domain.devices.disks needs a volume of the same name in spec.volumes: add the volume or rename the disk",fieldPath=".domain.devices.disks"
// +kubebuilder:validation:XValidation:rule="self.volumes.all(v, self.domain.devices.disks.exists(d, d.name == v.name))",message="every volume in spec.volumes needs a disk of the same name in spec.domain.devices.disks: add the disk or remove the volume",fieldPath=".volumes"
// +kubebuilder:validation:XValidation:rule="self.volumes.filter(v, has(v.cloudInitNoCloud)).size() <= 1",message="at most one cloudInitNoCloud volume is allowed: merge the user data into one volume",fieldPath=".volumes"
// +kubebuilder:validation:XValidation:rule="self.volumes.exists(v, has(v.containerDisk))",message="at least one containerDisk volume is needed to boot the VM: add a volume with containerDisk.image",fieldPath=".volumes"
type VirtualMachineInstanceSpec struct {
	// domain describes the virtual hardware: CPU, memory, disks and interfaces.
	// +required
	Domain DomainSpec `json:"domain,omitzero"`

	// networks the VM is connected to. VirtMesh supports exactly one network,
	// the pod network (`pod: {}`), bound with masquerade.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="network names must be unique: rename or remove the duplicate network"
	// +listType=atomic
	// +required
	Networks []Network `json:"networks,omitempty"`

	// volumes back the disks in spec.domain.devices.disks, matched by name.
	// Supported sources: containerDisk and cloudInitNoCloud.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="volume names must be unique: rename or remove the duplicate volume"
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
}

// DomainSpec is the virtual hardware of the VM.
type DomainSpec struct {
	// resources requested by and limited for the VM; the launcher pod's compute
	// container gets these plus VirtMesh's documented overhead.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`

	// cpu topology. Defaults to 1 socket, 1 core, 1 thread.
	// +optional
	CPU *CPU `json:"cpu,omitempty"`

	// memory visible to the guest. Defaults to resources.requests.memory.
	// +optional
	Memory *Memory `json:"memory,omitempty"`

	// devices attached to the VM.
	// +required
	Devices Devices `json:"devices,omitzero"`
}

// ResourceRequirements mirrors KubeVirt's: requests and limits for the VM.
type ResourceRequirements struct {
	// requests for cpu and memory. memory is the guest memory when
	// spec.domain.memory.guest is not set.
	// +kubebuilder:validation:MaxProperties=2
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory'])",message="only cpu and memory can be requested for a VM"
	// +kubebuilder:validation:XValidation:rule="['cpu', 'memory'].all(k, !(k in self) || quantity(string(self[k])).isGreaterThan(quantity('0')))",message="resource requests must be positive quantities, e.g. memory: 128Mi or cpu: 500m"
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`

	// limits for cpu and memory.
	// +kubebuilder:validation:MaxProperties=2
	// +kubebuilder:validation:XValidation:rule="self.all(k, k in ['cpu', 'memory'])",message="only cpu and memory can be limited for a VM"
	// +kubebuilder:validation:XValidation:rule="['cpu', 'memory'].all(k, !(k in self) || quantity(string(self[k])).isGreaterThan(quantity('0')))",message="resource limits must be positive quantities, e.g. memory: 256Mi or cpu: 1"
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
}

// CPU is the guest CPU topology. vCPUs = sockets × cores × threads.
// +kubebuilder:validation:XValidation:rule="(has(self.sockets) ? self.sockets : 1) * (has(self.cores) ? self.cores : 1) * (has(self.threads) ? self.threads : 1) <= 256",message="sockets × cores × threads must be at most 256 vCPUs"
type CPU struct {
	// cores per socket.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	// +optional
	Cores uint32 `json:"cores,omitempty"`
	// sockets of the guest.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	// +optional
	Sockets uint32 `json:"sockets,omitempty"`
	// threads per core.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	// +optional
	Threads uint32 `json:"threads,omitempty"`
}

// Memory is the memory visible to the guest.
type Memory struct {
	// guest memory, e.g. 128Mi.
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('1Mi'))",message="spec.domain.memory.guest must be at least 1Mi, e.g. guest: 128Mi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isGreaterThan(quantity('16Ti'))",message="spec.domain.memory.guest must be at most 16Ti"
	// +optional
	Guest *resource.Quantity `json:"guest,omitempty"`
}

// Devices attached to the VM.
type Devices struct {
	// disks of the VM in boot order, each backed by the volume of the same name.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="disk names must be unique: rename or remove the duplicate disk"
	// +listType=atomic
	// +required
	Disks []Disk `json:"disks,omitempty"`

	// interfaces of the VM, each connected to the network of the same name.
	// VirtMesh supports exactly one interface, bound with masquerade.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=1
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.name == x.name))",message="interface names must be unique: rename or remove the duplicate interface"
	// +listType=atomic
	// +required
	Interfaces []Interface `json:"interfaces,omitempty"`
}

// Disk is a block device of the VM.
// +kubebuilder:validation:XValidation:rule="!has(self.cdrom)",message="cdrom disks are not supported by VirtMesh: use disk: {bus: virtio}",fieldPath=".cdrom"
// +kubebuilder:validation:XValidation:rule="!has(self.lun)",message="lun disks are not supported by VirtMesh: use disk: {bus: virtio}",fieldPath=".lun"
type Disk struct {
	// name of the disk; a volume with the same name backs it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name,omitempty"`

	// disk attaches the volume as a disk. Only the virtio bus is supported.
	// +optional
	Disk *DiskTarget `json:"disk,omitempty"`

	// bootOrder of the disk; lower boots first.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint32 `json:"bootOrder,omitempty"`

	// serial number the guest sees.
	// +kubebuilder:validation:MaxLength=20
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_.+-]+$`
	// +optional
	Serial string `json:"serial,omitempty"`

	// cdrom is KubeVirt's cdrom target. Not supported by VirtMesh.
	// +optional
	CDRom *Unsupported `json:"cdrom,omitempty"`

	// lun is KubeVirt's lun target. Not supported by VirtMesh.
	// +optional
	LUN *Unsupported `json:"lun,omitempty"`
}

// DiskTarget attaches a volume as a disk.
type DiskTarget struct {
	// bus of the disk. Only virtio is supported; defaults to virtio.
	// +kubebuilder:validation:XValidation:rule="self == 'virtio'",message="only the virtio disk bus is supported by VirtMesh: set bus: virtio"
	// +optional
	Bus DiskBus `json:"bus,omitempty"`
}

// DiskBus names the bus a disk is attached to.
type DiskBus string

// Interface is a network interface of the VM.
// +kubebuilder:validation:XValidation:rule="has(self.masquerade)",message="the interface needs the masquerade binding: set masquerade: {} (bridge, slirp, sriov, macvtap, passt and binding plugins are not supported by VirtMesh)"
// +kubebuilder:validation:XValidation:rule="!has(self.bridge)",message="the bridge binding is not supported by VirtMesh: use masquerade: {}",fieldPath=".bridge"
// +kubebuilder:validation:XValidation:rule="!has(self.slirp)",message="the slirp binding is not supported by VirtMesh: use masquerade: {}",fieldPath=".slirp"
// +kubebuilder:validation:XValidation:rule="!has(self.sriov)",message="SR-IOV interfaces are not supported by VirtMesh: use masquerade: {}",fieldPath=".sriov"
// +kubebuilder:validation:XValidation:rule="!has(self.macvtap)",message="the macvtap binding is not supported by VirtMesh: use masquerade: {}",fieldPath=".macvtap"
// +kubebuilder:validation:XValidation:rule="!has(self.passt)",message="the passt binding is not supported by VirtMesh: use masquerade: {}",fieldPath=".passt"
// +kubebuilder:validation:XValidation:rule="!has(self.binding)",message="network binding plugins are not supported by VirtMesh: use masquerade: {}",fieldPath=".binding"
type Interface struct {
	// name of the interface; a network with the same name connects it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name,omitempty"`

	// masquerade puts the VM behind NAT inside the launcher pod; the VM is
	// reached at the pod IP. The only binding VirtMesh supports.
	// +optional
	Masquerade *InterfaceMasquerade `json:"masquerade,omitempty"`

	// ports the VM serves. Empty means every port is forwarded to the VM (except
	// the mesh proxy's ports). Each port becomes a container port of the
	// launcher pod, so Services can name it.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(x, self.exists_one(y, y.port == x.port && (has(y.protocol) ? y.protocol : 'TCP') == (has(x.protocol) ? x.protocol : 'TCP')))",message="each port and protocol may be listed once: remove the duplicate port"
	// +kubebuilder:validation:XValidation:rule="self.all(x, !has(x.name) || self.exists_one(y, has(y.name) && y.name == x.name))",message="port names must be unique: rename the duplicate port"
	// +listType=atomic
	// +optional
	Ports []Port `json:"ports,omitempty"`

	// macAddress of the guest NIC, e.g. 02:00:00:aa:bb:cc. Defaults to a stable
	// address derived from the VMI's UID.
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$`
	// +optional
	MacAddress string `json:"macAddress,omitempty"`

	// model of the NIC. Only virtio is supported; defaults to virtio.
	// +kubebuilder:validation:XValidation:rule="self == 'virtio'",message="only the virtio NIC model is supported by VirtMesh: set model: virtio or leave it out"
	// +optional
	Model string `json:"model,omitempty"`

	// bridge is KubeVirt's bridge binding. Not supported by VirtMesh.
	// +optional
	Bridge *Unsupported `json:"bridge,omitempty"`
	// slirp is KubeVirt's slirp binding. Not supported by VirtMesh.
	// +optional
	Slirp *Unsupported `json:"slirp,omitempty"`
	// sriov is KubeVirt's SR-IOV binding. Not supported by VirtMesh.
	// +optional
	SRIOV *Unsupported `json:"sriov,omitempty"`
	// macvtap is KubeVirt's macvtap binding. Not supported by VirtMesh.
	// +optional
	Macvtap *Unsupported `json:"macvtap,omitempty"`
	// passt is KubeVirt's passt binding. Not supported by VirtMesh.
	// +optional
	Passt *Unsupported `json:"passt,omitempty"`
	// binding is KubeVirt's binding-plugin reference. Not supported by VirtMesh.
	// +optional
	Binding *Unsupported `json:"binding,omitempty"`
}

// InterfaceMasquerade selects the masquerade binding. It has no fields.
type InterfaceMasquerade struct{}

// Port is a port the VM serves.
// +kubebuilder:validation:XValidation:rule="!(self.port in [15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053, 15090])",message="ports 15000, 15001, 15004, 15006, 15008, 15009, 15020, 15021, 15053 and 15090 are reserved for the mesh proxy: serve the VM on another port",fieldPath=".port"
type Port struct {
	// name of the port, used by Services as a targetPort. It becomes a
	// container port's name, so it is an IANA service name: at most 15
	// lowercase letters, digits and single hyphens, with at least one letter.
	// +kubebuilder:validation:MaxLength=15
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="self.matches('[a-z]')",message="port name must contain at least one letter (it names a container port, an IANA service name), e.g. http or dns-53"
	// +kubebuilder:validation:XValidation:rule="!self.contains('--')",message="port name must not contain consecutive hyphens (it names a container port, an IANA service name)"
	// +optional
	Name string `json:"name,omitempty"`

	// protocol is TCP or UDP. Defaults to TCP.
	// +kubebuilder:validation:Enum=TCP;UDP
	// +optional
	Protocol string `json:"protocol,omitempty"`

	// port number, 1–65535.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port,omitempty"`
}

// Network connects an interface of the VM.
// +kubebuilder:validation:XValidation:rule="has(self.pod)",message="only the pod network is supported by VirtMesh: set pod: {} (multus networks are not supported)"
// +kubebuilder:validation:XValidation:rule="!has(self.multus)",message="multus networks are not supported by VirtMesh: use pod: {}",fieldPath=".multus"
type Network struct {
	// name of the network; an interface with the same name uses it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name,omitempty"`

	// pod is the launcher pod's network.
	// +optional
	Pod *PodNetwork `json:"pod,omitempty"`

	// multus is KubeVirt's secondary-network source. Not supported by VirtMesh.
	// +optional
	Multus *Unsupported `json:"multus,omitempty"`
}

// PodNetwork is the pod network, with the VM's private NAT network inside the pod.
type PodNetwork struct {
	// vmNetworkCIDR is the IPv4 network between the VM and the pod: the gateway
	// gets the first address and the VM the second. Defaults to 10.0.2.0/24.
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 4 && cidr(self).prefixLength() <= 30",message="vmNetworkCIDR must be an IPv4 CIDR with room for a gateway and the VM (prefix length at most /30), e.g. 10.0.2.0/24"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="vmNetworkCIDR must be a network address with no host bits set, e.g. 10.0.2.0/24"
	// +kubebuilder:validation:MaxLength=43
	// +optional
	VMNetworkCIDR string `json:"vmNetworkCIDR,omitempty"`

	// vmIPv6NetworkCIDR is the IPv6 network between the VM and the pod, used
	// when the pod has an IPv6 address. Defaults to fd10:0:2::/120.
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 6 && cidr(self).prefixLength() <= 126",message="vmIPv6NetworkCIDR must be an IPv6 CIDR with room for a gateway and the VM (prefix length at most /126), e.g. fd10:0:2::/120"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="vmIPv6NetworkCIDR must be a network address with no host bits set, e.g. fd10:0:2::/120"
	// +kubebuilder:validation:MaxLength=43
	// +optional
	VMIPv6NetworkCIDR string `json:"vmIPv6NetworkCIDR,omitempty"`
}

// Volume is the storage behind a disk. Exactly one source is set.
// +kubebuilder:validation:XValidation:rule="(has(self.containerDisk) ? 1 : 0) + (has(self.cloudInitNoCloud) ? 1 : 0) == 1",message="each volume needs exactly one source: containerDisk or cloudInitNoCloud"
// +kubebuilder:validation:XValidation:rule="!has(self.persistentVolumeClaim)",message="persistentVolumeClaim volumes are not supported by VirtMesh: use containerDisk or cloudInitNoCloud",fieldPath=".persistentVolumeClaim"
// +kubebuilder:validation:XValidation:rule="!has(self.dataVolume)",message="dataVolume volumes are not supported by VirtMesh: use containerDisk or cloudInitNoCloud",fieldPath=".dataVolume"
// +kubebuilder:validation:XValidation:rule="!has(self.emptyDisk)",message="emptyDisk volumes are not supported by VirtMesh: use containerDisk or cloudInitNoCloud",fieldPath=".emptyDisk"
// +kubebuilder:validation:XValidation:rule="!has(self.hostDisk)",message="hostDisk volumes are not supported by VirtMesh: use containerDisk or cloudInitNoCloud",fieldPath=".hostDisk"
// +kubebuilder:validation:XValidation:rule="!has(self.ephemeral)",message="ephemeral volumes are not supported by VirtMesh: use containerDisk (it is already copy-on-write)",fieldPath=".ephemeral"
// +kubebuilder:validation:XValidation:rule="!has(self.cloudInitConfigDrive)",message="cloudInitConfigDrive volumes are not supported by VirtMesh: use cloudInitNoCloud",fieldPath=".cloudInitConfigDrive"
// +kubebuilder:validation:XValidation:rule="!has(self.configMap)",message="configMap volumes are not supported by VirtMesh: put the data into cloudInitNoCloud user data",fieldPath=".configMap"
// +kubebuilder:validation:XValidation:rule="!has(self.secret)",message="secret volumes are not supported by VirtMesh: put the data into cloudInitNoCloud user data",fieldPath=".secret"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccount)",message="serviceAccount volumes are not supported by VirtMesh",fieldPath=".serviceAccount"
// +kubebuilder:validation:XValidation:rule="!has(self.downwardAPI)",message="downwardAPI volumes are not supported by VirtMesh",fieldPath=".downwardAPI"
type Volume struct {
	// name of the volume; a disk with the same name uses it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=40
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name,omitempty"`

	// containerDisk is a disk image shipped in a container image.
	// +optional
	ContainerDisk *ContainerDiskSource `json:"containerDisk,omitempty"`

	// cloudInitNoCloud is a NoCloud seed the guest's cloud-init reads.
	// +optional
	CloudInitNoCloud *CloudInitNoCloudSource `json:"cloudInitNoCloud,omitempty"`

	// persistentVolumeClaim is not supported by VirtMesh.
	// +optional
	PersistentVolumeClaim *Unsupported `json:"persistentVolumeClaim,omitempty"`
	// dataVolume is not supported by VirtMesh.
	// +optional
	DataVolume *Unsupported `json:"dataVolume,omitempty"`
	// emptyDisk is not supported by VirtMesh.
	// +optional
	EmptyDisk *Unsupported `json:"emptyDisk,omitempty"`
	// hostDisk is not supported by VirtMesh.
	// +optional
	HostDisk *Unsupported `json:"hostDisk,omitempty"`
	// ephemeral is not supported by VirtMesh.
	// +optional
	Ephemeral *Unsupported `json:"ephemeral,omitempty"`
	// cloudInitConfigDrive is not supported by VirtMesh.
	// +optional
	CloudInitConfigDrive *Unsupported `json:"cloudInitConfigDrive,omitempty"`
	// configMap is not supported by VirtMesh.
	// +optional
	ConfigMap *Unsupported `json:"configMap,omitempty"`
	// secret is not supported by VirtMesh.
	// +optional
	Secret *Unsupported `json:"secret,omitempty"`
	// serviceAccount is not supported by VirtMesh.
	// +optional
	ServiceAccount *Unsupported `json:"serviceAccount,omitempty"`
	// downwardAPI is not supported by VirtMesh.
	// +optional
	DownwardAPI *Unsupported `json:"downwardAPI,omitempty"`
}

// ContainerDiskSource is a disk image inside a container image.
type ContainerDiskSource struct {
	// image holding the disk, e.g. quay.io/containerdisks/fedora:40.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +required
	Image string `json:"image,omitempty"`

	// path of the disk inside the image. Defaults to the only file in /disk.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.startsWith('/') && !self.contains('/../') && !self.endsWith('/..')",message="path must be an absolute path inside the image without '..', e.g. /disk/disk.qcow2"
	// +optional
	Path string `json:"path,omitempty"`

	// imagePullPolicy of the volume container.
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy,omitempty"`

	// imagePullSecret names a Secret in the VMI's namespace used to pull Image.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
}

// CloudInitNoCloudSource is the data of a NoCloud seed.
// +kubebuilder:validation:XValidation:rule="has(self.userData) || has(self.userDataBase64)",message="cloudInitNoCloud needs userData or userDataBase64"
// +kubebuilder:validation:XValidation:rule="!(has(self.userData) && has(self.userDataBase64))",message="set only one of userData and userDataBase64"
// +kubebuilder:validation:XValidation:rule="!(has(self.networkData) && has(self.networkDataBase64))",message="set only one of networkData and networkDataBase64"
// +kubebuilder:validation:XValidation:rule="!has(self.secretRef) && !has(self.networkDataSecretRef)",message="secretRef and networkDataSecretRef are not supported by VirtMesh: put the data inline in userData / networkData"
type CloudInitNoCloudSource struct {
	// userData is, e.g., a #cloud-config document or a shell script.
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	UserData string `json:"userData,omitempty"`

	// userDataBase64 is UserData, base64-encoded.
	// +kubebuilder:validation:MaxLength=43692
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9+/\s]*={0,2}\s*$`
	// +optional
	UserDataBase64 string `json:"userDataBase64,omitempty"`

	// networkData is a network-config document (version 1 or 2).
	// +kubebuilder:validation:MaxLength=32768
	// +optional
	NetworkData string `json:"networkData,omitempty"`

	// networkDataBase64 is NetworkData, base64-encoded.
	// +kubebuilder:validation:MaxLength=43692
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9+/\s]*={0,2}\s*$`
	// +optional
	NetworkDataBase64 string `json:"networkDataBase64,omitempty"`

	// secretRef is not supported by VirtMesh.
	// +optional
	SecretRef *Unsupported `json:"secretRef,omitempty"`
	// networkDataSecretRef is not supported by VirtMesh.
	// +optional
	NetworkDataSecretRef *Unsupported `json:"networkDataSecretRef,omitempty"`
}

// Unsupported stands for a KubeVirt field that VirtMesh does not implement. It
// is in the schema only so that admission can reject it with a message that
// names the field, instead of the field being dropped silently.
// +kubebuilder:pruning:PreserveUnknownFields
// +kubebuilder:validation:Type=object
type Unsupported struct{}

// VirtualMachineInstancePhase is where the VMI is in its single run.
// +kubebuilder:validation:Enum=Pending;Scheduling;Scheduled;Running;Succeeded;Failed;Unknown
type VirtualMachineInstancePhase string

// VirtualMachineInstanceStatus is what the operator observed of the VMI's run.
type VirtualMachineInstanceStatus struct {
	// conditions are Ready, PodScheduled, MeshEnrolled, ProxyReady and Failure.
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

	// spec is the VM to run.
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
