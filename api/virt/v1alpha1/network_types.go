package v1alpha1

// Interface is a network interface of the VM.
// +kubebuilder:validation:XValidation:rule="has(self.masquerade) || has(self.bridge) || has(self.slirp) || has(self.sriov) || has(self.macvtap) || has(self.passt) || has(self.passtBinding) || has(self.binding)",message="the interface needs the masquerade binding: set masquerade: {}"
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
	// +kubebuilder:validation:Pattern=`^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$`
	// +optional
	MacAddress string `json:"macAddress,omitempty"`

	// model of the NIC: virtio (the default), e1000, e1000e, igb, ne2k_pci,
	// pcnet or rtl8139 (KubeVirt's models).
	// +kubebuilder:validation:XValidation:rule="self in ['virtio', 'e1000', 'e1000e', 'igb', 'ne2k_pci', 'pcnet', 'rtl8139']",message="model must be one of KubeVirt's NIC models: virtio, e1000, e1000e, igb, ne2k_pci, pcnet, rtl8139"
	// +optional
	Model string `json:"model,omitempty"`

	// bootOrder of the NIC for network boot; lower boots first.
	// +kubebuilder:validation:Minimum=1
	// +optional
	BootOrder *uint32 `json:"bootOrder,omitempty"`

	// tag is accepted and ignored: it is published through a config drive,
	// which VirtMesh does not build.
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Tag string `json:"tag,omitempty"`

	// acpiIndex is accepted and ignored: the guest names the NIC by its PCI
	// slot.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ACPIIndex int32 `json:"acpiIndex,omitempty"`

	// state - up (the only state VirtMesh supports).
	// +kubebuilder:validation:MaxLength=16
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == 'up'",message="VirtMesh keeps the VM's interface up: remove state (down and absent need interface hotplug)"
	State string `json:"state,omitempty"`

	// bridge is KubeVirt's bridge binding. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="the bridge binding is not supported by VirtMesh: use masquerade: {} (the VM is reached at the pod IP, and the mesh needs the NAT)"
	// +optional
	Bridge *Unsupported `json:"bridge,omitempty"`
	// slirp is KubeVirt's slirp binding. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="the slirp binding is not supported by VirtMesh: use masquerade: {}"
	// +optional
	Slirp *Unsupported `json:"slirp,omitempty"`
	// sriov is KubeVirt's SR-IOV binding. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="SR-IOV interfaces are not supported by VirtMesh: use masquerade: {}"
	// +optional
	SRIOV *Unsupported `json:"sriov,omitempty"`
	// macvtap is KubeVirt's macvtap binding. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="the macvtap binding is not supported by VirtMesh: use masquerade: {}"
	// +optional
	Macvtap *Unsupported `json:"macvtap,omitempty"`
	// passt is KubeVirt's deprecated passt binding. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="the passt binding is not supported by VirtMesh: use masquerade: {}"
	// +optional
	Passt *Unsupported `json:"passt,omitempty"`
	// passtBinding is KubeVirt's passt binding. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="the passt binding is not supported by VirtMesh: use masquerade: {}"
	// +optional
	PasstBinding *Unsupported `json:"passtBinding,omitempty"`
	// binding is KubeVirt's binding-plugin reference. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="network binding plugins are not supported by VirtMesh: use masquerade: {}"
	// +optional
	Binding *Unsupported `json:"binding,omitempty"`
	// portRanges are KubeVirt's port ranges. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="portRanges are not supported by VirtMesh: list each port under ports"
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	PortRanges []Unsupported `json:"portRanges,omitempty"`
	// pciAddress is rejected.
	// +optional
	// +kubebuilder:validation:XValidation:rule="false",message="pciAddress is not supported by VirtMesh: the NIC gets QEMU's address; remove it"
	PCIAddress string `json:"pciAddress,omitempty"`
	// dhcpOptions are KubeVirt's extra DHCP options. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="dhcpOptions are not supported by VirtMesh: its DHCP server hands out address, router, DNS, hostname and MTU only"
	// +optional
	DHCPOptions *Unsupported `json:"dhcpOptions,omitempty"`
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
// +kubebuilder:validation:XValidation:rule="has(self.pod) || has(self.multus) || has(self.resourceClaim)",message="the network needs a source: set pod: {} (VirtMesh connects VMs to the pod network)"
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
	// +kubebuilder:validation:XValidation:rule="false",message="multus networks are not supported by VirtMesh: a VM joins the mesh through the pod network; use pod: {}"
	// +optional
	Multus *Unsupported `json:"multus,omitempty"`

	// resourceClaim is KubeVirt's network device from dynamic resource
	// allocation. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="networks from resource claims are not supported by VirtMesh: use pod: {}"
	// +optional
	ResourceClaim *Unsupported `json:"resourceClaim,omitempty"`
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
	// when the operator runs with --vm-ipv6 and the pod has an IPv6 address
	// (otherwise the VM is IPv4-only). Defaults to fd10:0:2::/120.
	// +kubebuilder:validation:XValidation:rule="isCIDR(self) && cidr(self).ip().family() == 6 && cidr(self).prefixLength() <= 126",message="vmIPv6NetworkCIDR must be an IPv6 CIDR with room for a gateway and the VM (prefix length at most /126), e.g. fd10:0:2::/120"
	// +kubebuilder:validation:XValidation:rule="!isCIDR(self) || cidr(self) == cidr(self).masked()",message="vmIPv6NetworkCIDR must be a network address with no host bits set, e.g. fd10:0:2::/120"
	// +kubebuilder:validation:MaxLength=43
	// +optional
	VMIPv6NetworkCIDR string `json:"vmIPv6NetworkCIDR,omitempty"`
}
