// Package vmibuilder builds VirtualMachineInstances for tests, kueue-style:
//
//	vmibuilder.MakeVMI("details").Namespace("bookinfo").Label("app", "details").Port("http", 9080).Obj()
//
// MakeVMI starts from the smallest valid VMI (one container disk, the pod
// network with masquerade, 128Mi); every method returns the builder.
package vmibuilder

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// DefaultImage is the container disk MakeVMI boots.
const DefaultImage = "quay.io/kubevirt/cirros-container-disk-demo:v1.9.0"

// VMIWrapper wraps a VirtualMachineInstance under construction.
type VMIWrapper struct {
	virtv1alpha1.VirtualMachineInstance
}

// MakeVMI returns a minimal valid VMI called name in namespace "default".
func MakeVMI(name string) *VMIWrapper {
	return &VMIWrapper{virtv1alpha1.VirtualMachineInstance{
		TypeMeta:   metav1.TypeMeta{APIVersion: virtv1alpha1.GroupVersion.String(), Kind: "VirtualMachineInstance"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: virtv1alpha1.VirtualMachineInstanceSpec{
			Domain: virtv1alpha1.DomainSpec{
				Resources: virtv1alpha1.ResourceRequirements{Requests: map[corev1.ResourceName]resource.Quantity{"memory": resource.MustParse("128Mi")}},
				Devices: virtv1alpha1.Devices{
					Disks:      []virtv1alpha1.Disk{{Name: "containerdisk", Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}}},
					Interfaces: []virtv1alpha1.Interface{{Name: "default", Masquerade: &virtv1alpha1.InterfaceMasquerade{}}},
				},
			},
			Networks: []virtv1alpha1.Network{{Name: "default", Pod: &virtv1alpha1.PodNetwork{}}},
			Volumes:  []virtv1alpha1.Volume{{Name: "containerdisk", ContainerDisk: &virtv1alpha1.ContainerDiskSource{Image: DefaultImage}}},
		},
	}}
}

// Obj returns a deep copy of the VMI built so far.
func (w *VMIWrapper) Obj() *virtv1alpha1.VirtualMachineInstance { return w.DeepCopy() }

// Namespace sets the namespace.
func (w *VMIWrapper) Namespace(ns string) *VMIWrapper { w.ObjectMeta.Namespace = ns; return w }

// UID sets metadata.uid (the API server sets it on create; renderer tests fix it).
func (w *VMIWrapper) UID(uid string) *VMIWrapper { w.ObjectMeta.UID = types.UID(uid); return w }

// Label adds a label.
func (w *VMIWrapper) Label(k, v string) *VMIWrapper {
	if w.Labels == nil {
		w.Labels = map[string]string{}
	}
	w.Labels[k] = v
	return w
}

// Annotation adds an annotation.
func (w *VMIWrapper) Annotation(k, v string) *VMIWrapper {
	if w.Annotations == nil {
		w.Annotations = map[string]string{}
	}
	w.Annotations[k] = v
	return w
}

// Mesh opts the VMI into the mesh (sidecar.istio.io/inject: "true").
func (w *VMIWrapper) Mesh() *VMIWrapper {
	return w.Annotation(virtv1alpha1.AnnotationInject, "true")
}

// NoMesh opts the VMI out of the mesh (sidecar.istio.io/inject: "false").
func (w *VMIWrapper) NoMesh() *VMIWrapper {
	return w.Annotation(virtv1alpha1.AnnotationInject, "false")
}

// Port adds a TCP port to the (only) interface.
func (w *VMIWrapper) Port(name string, port int32) *VMIWrapper {
	return w.PortProto(name, "", port)
}

// PortProto adds a port with a protocol ("" for the default TCP).
func (w *VMIWrapper) PortProto(name, protocol string, port int32) *VMIWrapper {
	ifc := &w.Spec.Domain.Devices.Interfaces[0]
	ifc.Ports = append(ifc.Ports, virtv1alpha1.Port{Name: name, Protocol: protocol, Port: port})
	return w
}

// MAC sets the guest NIC's MAC address.
func (w *VMIWrapper) MAC(mac string) *VMIWrapper {
	w.Spec.Domain.Devices.Interfaces[0].MacAddress = mac
	return w
}

// VMNetworkCIDR sets the pod network's VM CIDRs (IPv4, IPv6; "" keeps the default).
func (w *VMIWrapper) VMNetworkCIDR(v4, v6 string) *VMIWrapper {
	w.Spec.Networks[0].Pod = &virtv1alpha1.PodNetwork{VMNetworkCIDR: v4, VMIPv6NetworkCIDR: v6}
	return w
}

// ContainerDisk adds a disk backed by a containerDisk volume.
func (w *VMIWrapper) ContainerDisk(name, image, path string) *VMIWrapper {
	w.Spec.Domain.Devices.Disks = append(w.Spec.Domain.Devices.Disks, virtv1alpha1.Disk{Name: name, Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}})
	w.Spec.Volumes = append(w.Spec.Volumes, virtv1alpha1.Volume{Name: name, ContainerDisk: &virtv1alpha1.ContainerDiskSource{Image: image, Path: path}})
	return w
}

// PVC adds a disk backed by a persistentVolumeClaim volume.
func (w *VMIWrapper) PVC(name, claim string, readOnly bool) *VMIWrapper {
	w.Spec.Domain.Devices.Disks = append(w.Spec.Domain.Devices.Disks, virtv1alpha1.Disk{Name: name, Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio, ReadOnly: readOnly}})
	w.Spec.Volumes = append(w.Spec.Volumes, virtv1alpha1.Volume{Name: name, PersistentVolumeClaim: &virtv1alpha1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly}})
	return w
}

// EmptyDisk adds a disk backed by an emptyDisk volume of capacity.
func (w *VMIWrapper) EmptyDisk(name, capacity string) *VMIWrapper {
	w.Spec.Domain.Devices.Disks = append(w.Spec.Domain.Devices.Disks, virtv1alpha1.Disk{Name: name, Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}})
	w.Spec.Volumes = append(w.Spec.Volumes, virtv1alpha1.Volume{Name: name, EmptyDisk: &virtv1alpha1.EmptyDiskSource{Capacity: resource.MustParse(capacity)}})
	return w
}

// CloudInit adds a cloudInitNoCloud disk with userData.
func (w *VMIWrapper) CloudInit(name, userData string) *VMIWrapper {
	w.Spec.Domain.Devices.Disks = append(w.Spec.Domain.Devices.Disks, virtv1alpha1.Disk{Name: name, Disk: &virtv1alpha1.DiskTarget{Bus: virtv1alpha1.DiskBusVirtio}})
	w.Spec.Volumes = append(w.Spec.Volumes, virtv1alpha1.Volume{Name: name, CloudInitNoCloud: &virtv1alpha1.CloudInitNoCloudSource{UserData: userData}})
	return w
}

// Memory sets spec.domain.memory.guest.
func (w *VMIWrapper) Memory(guest string) *VMIWrapper {
	q := resource.MustParse(guest)
	w.Spec.Domain.Memory = &virtv1alpha1.Memory{Guest: &q}
	return w
}

// Request sets spec.domain.resources.requests[name].
func (w *VMIWrapper) Request(name, q string) *VMIWrapper {
	if w.Spec.Domain.Resources.Requests == nil {
		w.Spec.Domain.Resources.Requests = map[corev1.ResourceName]resource.Quantity{}
	}
	w.Spec.Domain.Resources.Requests[corev1.ResourceName(name)] = resource.MustParse(q)
	return w
}

// Limit sets spec.domain.resources.limits[name].
func (w *VMIWrapper) Limit(name, q string) *VMIWrapper {
	if w.Spec.Domain.Resources.Limits == nil {
		w.Spec.Domain.Resources.Limits = map[corev1.ResourceName]resource.Quantity{}
	}
	w.Spec.Domain.Resources.Limits[corev1.ResourceName(name)] = resource.MustParse(q)
	return w
}

// Cores sets spec.domain.cpu.cores.
func (w *VMIWrapper) Cores(n uint32) *VMIWrapper {
	w.Spec.Domain.CPU = &virtv1alpha1.CPU{Cores: n}
	return w
}

// GracePeriod sets spec.terminationGracePeriodSeconds.
func (w *VMIWrapper) GracePeriod(s int64) *VMIWrapper {
	w.Spec.TerminationGracePeriodSeconds = &s
	return w
}

// Hostname sets spec.hostname and spec.subdomain.
func (w *VMIWrapper) Hostname(hostname, subdomain string) *VMIWrapper {
	w.Spec.Hostname, w.Spec.Subdomain = hostname, subdomain
	return w
}

// ServiceAccount sets spec.serviceAccountName.
func (w *VMIWrapper) ServiceAccount(name string) *VMIWrapper {
	w.Spec.ServiceAccountName = name
	return w
}

// NodeSelector adds a node selector entry.
func (w *VMIWrapper) NodeSelector(k, v string) *VMIWrapper {
	if w.Spec.NodeSelector == nil {
		w.Spec.NodeSelector = map[string]string{}
	}
	w.Spec.NodeSelector[k] = v
	return w
}
