package v1alpha1

import (
	"bytes"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Volume is the storage behind a disk. Exactly one source is set.
// +kubebuilder:validation:XValidation:rule="(has(self.containerDisk) ? 1 : 0) + (has(self.cloudInitNoCloud) ? 1 : 0) + (has(self.persistentVolumeClaim) ? 1 : 0) + (has(self.dataVolume) ? 1 : 0) + (has(self.emptyDisk) ? 1 : 0) + (has(self.hostDisk) ? 1 : 0) + (has(self.ephemeral) ? 1 : 0) + (has(self.cloudInitConfigDrive) ? 1 : 0) + (has(self.configMap) ? 1 : 0) + (has(self.secret) ? 1 : 0) + (has(self.serviceAccount) ? 1 : 0) + (has(self.downwardAPI) ? 1 : 0) + (has(self.sysprep) ? 1 : 0) + (has(self.downwardMetrics) ? 1 : 0) + (has(self.memoryDump) ? 1 : 0) + (has(self.containerPath) ? 1 : 0) == 1",message="each volume needs exactly one source, e.g. containerDisk or cloudInitNoCloud"
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

	// persistentVolumeClaim is a disk kept on a PersistentVolumeClaim of the
	// VMI's namespace: the file disk.img on the claim (filesystem volume
	// mode), created sparse when absent. It outlives the run, so a
	// VirtualMachine's next run sees what the last one wrote.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
	// dataVolume is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="dataVolume volumes are not supported by VirtMesh: they need CDI; create a PersistentVolumeClaim and use a persistentVolumeClaim volume"
	// +optional
	DataVolume *Unsupported `json:"dataVolume,omitempty"`
	// emptyDisk is a blank scratch disk of the given capacity, created
	// sparse for each run: what the guest writes to it is gone when the
	// run ends.
	// +optional
	EmptyDisk *EmptyDiskSource `json:"emptyDisk,omitempty"`
	// hostDisk is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="hostDisk volumes are not supported by VirtMesh: a VM's disks never come from the node's filesystem; use a persistentVolumeClaim volume (its disk.img is created like hostDisk's DiskOrCreate)"
	// +optional
	HostDisk *Unsupported `json:"hostDisk,omitempty"`
	// ephemeral is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="ephemeral volumes are not supported by VirtMesh: use containerDisk (it is already copy-on-write)"
	// +optional
	Ephemeral *Unsupported `json:"ephemeral,omitempty"`
	// cloudInitConfigDrive is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="cloudInitConfigDrive volumes are not supported by VirtMesh: use cloudInitNoCloud"
	// +optional
	CloudInitConfigDrive *Unsupported `json:"cloudInitConfigDrive,omitempty"`
	// configMap is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="configMap volumes are not supported by VirtMesh: put the data into cloudInitNoCloud user data"
	// +optional
	ConfigMap *Unsupported `json:"configMap,omitempty"`
	// secret is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="secret volumes are not supported by VirtMesh: put the data into cloudInitNoCloud user data"
	// +optional
	Secret *Unsupported `json:"secret,omitempty"`
	// serviceAccount is not supported by VirtMesh; use spec.serviceAccountName.
	// +kubebuilder:validation:XValidation:rule="false",message="serviceAccount volumes are not supported by VirtMesh: set spec.serviceAccountName to run the VM as a ServiceAccount"
	// +optional
	ServiceAccount *Unsupported `json:"serviceAccount,omitempty"`
	// downwardAPI is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="downwardAPI volumes are not supported by VirtMesh"
	// +optional
	DownwardAPI *Unsupported `json:"downwardAPI,omitempty"`
	// sysprep is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="sysprep volumes are not supported by VirtMesh: they are a Windows answer-file CD, and VirtMesh has no cdrom disks"
	// +optional
	Sysprep *Unsupported `json:"sysprep,omitempty"`
	// downwardMetrics is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="downwardMetrics volumes are not supported by VirtMesh: they need KubeVirt's node agent"
	// +optional
	DownwardMetrics *Unsupported `json:"downwardMetrics,omitempty"`
	// memoryDump is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="memoryDump volumes are not supported by VirtMesh"
	// +optional
	MemoryDump *Unsupported `json:"memoryDump,omitempty"`
	// containerPath is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="containerPath volumes are not supported by VirtMesh: they need virtiofs"
	// +optional
	ContainerPath *Unsupported `json:"containerPath,omitempty"`
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

// PersistentVolumeClaimVolumeSource names a PersistentVolumeClaim in the
// VMI's namespace (KubeVirt's shape: Kubernetes' claimName and readOnly,
// plus hotpluggable). The claim must have volumeMode Filesystem; the VMI
// stays Pending until the claim exists and is bound (or its StorageClass
// binds on first use).
// +kubebuilder:validation:XValidation:rule="has(self.claimName)",message="persistentVolumeClaim needs a claimName: the name of a PersistentVolumeClaim in the VMI's namespace"
type PersistentVolumeClaimVolumeSource struct {
	// claimName is the PersistentVolumeClaim's name in the VMI's namespace.
	// Required: a type-level rule says so in words (a schema "required"
	// would stop the API server before any rule could name the fix).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	ClaimName string `json:"claimName,omitempty"`

	// readOnly mounts the claim read-only and attaches its disk.img as a
	// read-only disk; the disk.img must then exist already.
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`

	// hotpluggable is rejected when true: VirtMesh attaches every disk when
	// the run starts.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self",message="hotplug is not supported by VirtMesh: a VM's disks are attached when its run starts; remove hotpluggable: true"
	Hotpluggable bool `json:"hotpluggable,omitempty"`
}

// EmptyDiskSource is a blank disk that lives as long as the run.
// +kubebuilder:validation:XValidation:rule="has(self.capacity)",message="emptyDisk needs a capacity: set emptyDisk.capacity, e.g. 1Gi"
type EmptyDiskSource struct {
	// capacity of the sparse disk the guest sees, e.g. 2Gi. Required (see
	// the type's rule). The rule on its value is a prefix check, not a
	// quantity comparison: parsing an unbounded string in a list of volumes
	// is over the API server's CEL cost budget.
	// +kubebuilder:validation:XValidation:rule="type(self) == int ? self > 0 : !self.startsWith('-') && !self.startsWith('0') && !self.startsWith('+0')",message="emptyDisk.capacity must be more than 0 and start with a non-zero digit, e.g. 1Gi or 512Mi"
	// +optional
	Capacity resource.Quantity `json:"capacity,omitzero"`
}

// CloudInitNoCloudSource is the data of a NoCloud seed.
// +kubebuilder:validation:XValidation:rule="has(self.userData) || has(self.userDataBase64) || has(self.networkData) || has(self.networkDataBase64) || has(self.secretRef) || has(self.networkDataSecretRef)",message="cloudInitNoCloud needs user data or network data: set userData, userDataBase64, networkData or networkDataBase64"
// +kubebuilder:validation:XValidation:rule="!(has(self.userData) && has(self.userDataBase64))",message="set only one of userData and userDataBase64"
// +kubebuilder:validation:XValidation:rule="!(has(self.networkData) && has(self.networkDataBase64))",message="set only one of networkData and networkDataBase64"
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
	// +kubebuilder:validation:XValidation:rule="false",message="secretRef is not supported by VirtMesh: put the user data inline in userData"
	// +optional
	SecretRef *Unsupported `json:"secretRef,omitempty"`
	// networkDataSecretRef is not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="networkDataSecretRef is not supported by VirtMesh: put the network data inline in networkData"
	// +optional
	NetworkDataSecretRef *Unsupported `json:"networkDataSecretRef,omitempty"`
}

// Unsupported stands for a KubeVirt object that VirtMesh does not implement.
// It is in the schema only so that admission rejects it with a message that
// names the field and says why, instead of a bare "unknown field": every field
// of this type carries a rule="false" validation with that message. The value
// is kept as it was written.
// +kubebuilder:pruning:PreserveUnknownFields
// +kubebuilder:validation:Type=object
type Unsupported struct {
	// Raw is the field's JSON as written.
	Raw []byte `json:"-"`
}

// MarshalJSON writes the value back as it was written.
func (u Unsupported) MarshalJSON() ([]byte, error) {
	if len(u.Raw) == 0 {
		return []byte("{}"), nil
	}
	return u.Raw, nil
}

// UnmarshalJSON keeps the value as written.
func (u *Unsupported) UnmarshalJSON(b []byte) error {
	u.Raw = bytes.Clone(b)
	return nil
}
