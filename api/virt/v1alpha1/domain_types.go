package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// DomainSpec is the virtual hardware of the VM.
// +kubebuilder:validation:XValidation:rule="self.?resources.?requests.?memory.hasValue() || self.?resources.?limits.?memory.hasValue() || self.?memory.?guest.hasValue()",message="the VM needs memory: set spec.domain.resources.requests.memory (e.g. 128Mi) or spec.domain.memory.guest"
type DomainSpec struct {
	// resources requested by and limited for the VM; the launcher pod's compute
	// container gets these plus VirtMesh's documented overhead.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`

	// cpu topology and model. Defaults to 1 socket, 1 core, 1 thread.
	// +optional
	CPU *CPU `json:"cpu,omitempty"`

	// memory visible to the guest. Defaults to resources.requests.memory, then
	// resources.limits.memory.
	// +optional
	Memory *Memory `json:"memory,omitempty"`

	// machine is the QEMU machine type (chipset).
	// +optional
	Machine *Machine `json:"machine,omitempty"`

	// firmware - SMBIOS identity and the boot loader.
	// +optional
	Firmware *Firmware `json:"firmware,omitempty"`

	// clock of the guest.
	// +optional
	Clock *Clock `json:"clock,omitempty"`

	// features of the virtual platform: ACPI, APIC, SMM, KVM.
	// +optional
	Features *Features `json:"features,omitempty"`

	// devices attached to the VM. Defaults to {}, which gets the default
	// interface on the pod network.
	// +kubebuilder:default={}
	// +optional
	Devices Devices `json:"devices,omitzero"`

	// ioThreadsPolicy is accepted for compatibility and ignored: VirtMesh's
	// disks use QEMU's main loop, a performance setting that does not change
	// what the guest sees.
	// +kubebuilder:validation:Enum=shared;auto;supplementalPool
	// +optional
	IOThreadsPolicy string `json:"ioThreadsPolicy,omitempty"`

	// ioThreads options; accepted and ignored like ioThreadsPolicy.
	// +optional
	IOThreads *DiskIOThreads `json:"ioThreads,omitempty"`

	// chassis information the guest reads from SMBIOS (type 3).
	// +optional
	Chassis *Chassis `json:"chassis,omitempty"`

	// rebootPolicy - Reboot (default) restarts the guest inside the same run;
	// Terminate ends the run when the guest reboots (QEMU -no-reboot).
	// +kubebuilder:validation:Enum=Reboot;Terminate
	// +optional
	RebootPolicy string `json:"rebootPolicy,omitempty"`

	// launchSecurity is KubeVirt's SEV/SNP/TDX confidential computing. Not
	// supported by VirtMesh: it needs special hosts and firmware.
	// +kubebuilder:validation:XValidation:rule="false",message="launchSecurity (SEV, SNP, TDX) is not supported by VirtMesh: confidential VMs need special hosts and firmware"
	// +optional
	LaunchSecurity *Unsupported `json:"launchSecurity,omitempty"`
}

// ResourceRequirements mirrors KubeVirt's: requests and limits for the VM.
// +kubebuilder:validation:XValidation:rule="['cpu', 'memory'].all(k, !has(self.requests) || !has(self.limits) || !(k in self.requests) || !(k in self.limits) || !quantity(string(self.limits[k])).isLessThan(quantity(string(self.requests[k]))))",message="a resource limit must not be below its request: raise spec.domain.resources.limits or lower the requests"
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

	// overcommitGuestOverhead - when true, VirtMesh's per-VM overhead is added
	// to the compute container's memory limit only, not to its request, so the
	// scheduler does not account for it (KubeVirt's meaning).
	// +optional
	OvercommitGuestOverhead bool `json:"overcommitGuestOverhead,omitempty"`
}

// CPU is the guest CPU topology and model. vCPUs = sockets × cores × threads.
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
	// maxSockets is CPU hotplug headroom; accepted and ignored: VirtMesh does
	// not hotplug CPUs.
	// +kubebuilder:validation:Maximum=256
	// +optional
	MaxSockets uint32 `json:"maxSockets,omitempty"`
	// model of the guest CPU. host-model (KubeVirt's default) and
	// host-passthrough give the guest the host's CPU under KVM and QEMU's max
	// model under software emulation; any other value is a QEMU CPU model name
	// (e.g. Skylake-Client-IBRS), passed to -cpu.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	// +optional
	Model string `json:"model,omitempty"`
	// features of the CPU model to require or disable.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Features []CPUFeature `json:"features,omitempty"`
	// dedicatedCpuPlacement pins vCPUs to dedicated host CPUs. Not supported
	// by VirtMesh (true is rejected).
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self",message="dedicatedCpuPlacement is not supported by VirtMesh: it needs the CPU manager's static policy and vCPU pinning; remove it"
	DedicatedCPUPlacement bool `json:"dedicatedCpuPlacement,omitempty"`
	// isolateEmulatorThread needs dedicatedCpuPlacement. Not supported by
	// VirtMesh (true is rejected).
	// +optional
	// +kubebuilder:validation:XValidation:rule="!self",message="isolateEmulatorThread is not supported by VirtMesh: it needs dedicated CPUs; remove it"
	IsolateEmulatorThread bool `json:"isolateEmulatorThread,omitempty"`
	// numa is KubeVirt's guest NUMA topology. Not supported by VirtMesh: it
	// needs dedicated CPUs and hugepages.
	// +kubebuilder:validation:XValidation:rule="false",message="cpu.numa is not supported by VirtMesh: a guest NUMA topology needs dedicated CPUs and hugepages"
	// +optional
	NUMA *Unsupported `json:"numa,omitempty"`
	// realtime tuning. Not supported by VirtMesh: it needs dedicated CPUs
	// and a realtime host kernel.
	// +kubebuilder:validation:XValidation:rule="false",message="cpu.realtime is not supported by VirtMesh: it needs dedicated CPUs and a realtime host kernel"
	// +optional
	Realtime *Unsupported `json:"realtime,omitempty"`
}

// CPUFeature is one feature flag of the guest CPU model.
type CPUFeature struct {
	// name of the feature as QEMU spells it, e.g. pcid or vmx.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9._-]*$`
	// +required
	Name string `json:"name,omitempty"`
	// policy - require or force (the default: the feature is on), disable or
	// forbid (off), optional (on; QEMU drops it when the host lacks it).
	// +kubebuilder:validation:Enum=force;require;optional;disable;forbid
	// +optional
	Policy string `json:"policy,omitempty"`
}

// Memory is the memory visible to the guest.
type Memory struct {
	// guest memory, e.g. 128Mi.
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isLessThan(quantity('1Mi'))",message="spec.domain.memory.guest must be at least 1Mi, e.g. guest: 128Mi"
	// +kubebuilder:validation:XValidation:rule="!quantity(string(self)).isGreaterThan(quantity('16Ti'))",message="spec.domain.memory.guest must be at most 16Ti"
	// +optional
	Guest *resource.Quantity `json:"guest,omitempty"`
	// maxGuest is memory hotplug headroom; accepted and ignored: VirtMesh does
	// not hotplug memory.
	// +optional
	MaxGuest *resource.Quantity `json:"maxGuest,omitempty"`
	// reservedOverhead adds memory to VirtMesh's per-VM overhead.
	// +optional
	ReservedOverhead *ReservedOverhead `json:"reservedOverhead,omitempty"`
	// hugepages backing for guest memory. Not supported by VirtMesh yet.
	// +kubebuilder:validation:XValidation:rule="false",message="memory.hugepages is not supported by VirtMesh yet: guest memory is regular memory"
	// +optional
	Hugepages *Unsupported `json:"hugepages,omitempty"`
}

// ReservedOverhead is memory added to the launcher's overhead.
type ReservedOverhead struct {
	// addedOverhead is added to the compute container's memory request and
	// limit on top of VirtMesh's overhead.
	// +optional
	AddedOverhead *resource.Quantity `json:"addedOverhead,omitempty"`
	// memLock - NotRequired is accepted; Required is rejected.
	// +kubebuilder:validation:Enum=Required;NotRequired
	// +optional
	// +kubebuilder:validation:XValidation:rule="self == 'NotRequired'",message="memLock: Required is not supported by VirtMesh: locking guest memory needs IPC_LOCK and a raised memlock limit; remove it"
	MemLock string `json:"memLock,omitempty"`
}

// Machine is the QEMU machine type.
type Machine struct {
	// type of the machine: q35 (the default, also for an empty string) or a
	// versioned pc-q35-X.Y, which the launcher's QEMU must know.
	// +kubebuilder:validation:XValidation:rule="self == '' || self == 'q35' || self.matches('^pc-q35-[0-9]+\\\\.[0-9]+$')",message="VirtMesh runs the q35 machine type: set type to q35, a versioned pc-q35-X.Y (e.g. pc-q35-7.2), or leave it empty (RHEL-only types such as pc-q35-rhel9.2.0 and the i440fx pc type are not available)"
	// +kubebuilder:validation:MaxLength=32
	// +optional
	Type string `json:"type,omitempty"`
}

// Firmware is the guest's SMBIOS identity and boot loader.
type Firmware struct {
	// uuid is the SMBIOS system UUID. Defaults to the VMI's UID.
	// +kubebuilder:validation:Pattern=`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`
	// +optional
	UUID string `json:"uuid,omitempty"`
	// serial is the SMBIOS system serial number.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9 ._:/+-]*$`
	// +optional
	Serial string `json:"serial,omitempty"`
	// bootloader - BIOS (SeaBIOS, the default).
	// +optional
	Bootloader *Bootloader `json:"bootloader,omitempty"`
	// kernelBoot boots a kernel from a container image. Not supported by
	// VirtMesh yet: put the kernel into the container disk.
	// +kubebuilder:validation:XValidation:rule="false",message="firmware.kernelBoot is not supported by VirtMesh yet: boot the kernel from the container disk"
	// +optional
	KernelBoot *Unsupported `json:"kernelBoot,omitempty"`
	// acpi tables (SLIC/MSDM) from secrets. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="firmware.acpi (SLIC/MSDM tables) is not supported by VirtMesh"
	// +optional
	ACPI *Unsupported `json:"acpi,omitempty"`
}

// Bootloader selects the firmware.
type Bootloader struct {
	// bios is SeaBIOS, VirtMesh's firmware.
	// +optional
	BIOS *BIOS `json:"bios,omitempty"`
	// efi firmware (OVMF). Not supported by VirtMesh yet: use bios.
	// +kubebuilder:validation:XValidation:rule="false",message="EFI firmware is not supported by VirtMesh yet: use bootloader: {bios: {}} (SeaBIOS, the default)"
	// +optional
	EFI *Unsupported `json:"efi,omitempty"`
}

// BIOS is SeaBIOS.
type BIOS struct {
	// useSerial is accepted and ignored: the guest's serial console is always
	// attached and logged, and SeaBIOS writes to it.
	// +optional
	UseSerial *bool `json:"useSerial,omitempty"`
}

// Clock is the guest's real-time clock.
// +kubebuilder:validation:XValidation:rule="!(has(self.utc) && has(self.timezone))",message="set only one of clock.utc and clock.timezone"
type Clock struct {
	// utc starts the guest clock at UTC plus offsetSeconds (the default: UTC).
	// +optional
	UTC *ClockOffsetUTC `json:"utc,omitempty"`
	// timezone starts the guest clock at the local time of this IANA time
	// zone, e.g. Europe/Berlin (for guests that keep local time, like Windows).
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`
	// +optional
	Timezone string `json:"timezone,omitempty"`
	// timer devices.
	// +optional
	Timer *Timer `json:"timer,omitempty"`
}

// ClockOffsetUTC is an offset from UTC.
type ClockOffsetUTC struct {
	// offsetSeconds added to UTC at boot.
	// +kubebuilder:validation:Minimum=-2147483648
	// +kubebuilder:validation:Maximum=2147483647
	// +optional
	OffsetSeconds *int64 `json:"offsetSeconds,omitempty"`
}

// Timer lists the guest's timer devices.
type Timer struct {
	// hpet - present: false removes the HPET (-machine hpet=off); tickPolicy is
	// accepted and ignored.
	// +optional
	HPET *HPETTimer `json:"hpet,omitempty"`
	// kvm clock is accepted and ignored: QEMU gives it to KVM guests.
	// +optional
	KVM *TimerPresent `json:"kvm,omitempty"`
	// pit - present: false removes the PIT (-machine pit=off); tickPolicy is
	// accepted and ignored.
	// +optional
	PIT *PITTimer `json:"pit,omitempty"`
	// rtc - tickPolicy catchup makes QEMU catch up missed ticks
	// (-rtc driftfix=slew); track selects the clock it follows.
	// +optional
	RTC *RTCTimer `json:"rtc,omitempty"`
	// hyperv clock is accepted and ignored: it serves Windows guests under
	// Hyper-V enlightenments, which VirtMesh does not offer.
	// +optional
	Hyperv *TimerPresent `json:"hyperv,omitempty"`
}

// TimerPresent is a timer that can only be present or absent.
type TimerPresent struct {
	// present - true by default.
	// +optional
	Present *bool `json:"present,omitempty"`
}

// HPETTimer is the High Precision Event Timer.
type HPETTimer struct {
	// tickPolicy is accepted and ignored.
	// +kubebuilder:validation:Enum=delay;catchup;merge;discard
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// present - true by default; false removes the device.
	// +optional
	Present *bool `json:"present,omitempty"`
}

// PITTimer is the Programmable Interval Timer.
type PITTimer struct {
	// tickPolicy is accepted and ignored.
	// +kubebuilder:validation:Enum=delay;catchup;discard
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// present - true by default; false removes the device.
	// +optional
	Present *bool `json:"present,omitempty"`
}

// RTCTimer is the real-time clock.
type RTCTimer struct {
	// tickPolicy - catchup sets -rtc driftfix=slew; delay is QEMU's default.
	// +kubebuilder:validation:Enum=delay;catchup
	// +optional
	TickPolicy string `json:"tickPolicy,omitempty"`
	// present must stay true.
	// +optional
	// +kubebuilder:validation:XValidation:rule="self",message="the RTC cannot be removed from a q35 machine: remove present: false"
	Present *bool `json:"present,omitempty"`
	// track - guest (the default) or wall (-rtc clock=host).
	// +kubebuilder:validation:Enum=guest;wall
	// +optional
	Track string `json:"track,omitempty"`
}

// Features of the virtual platform.
type Features struct {
	// acpi is always on in VirtMesh: the ACPI power button is how the guest is
	// shut down gracefully. enabled: false is rejected.
	// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || self.enabled",message="ACPI cannot be disabled in VirtMesh: the VM is shut down gracefully through the ACPI power button; remove enabled: false"
	// +optional
	ACPI *FeatureState `json:"acpi,omitempty"`
	// apic is always on (q35); enabled: false is rejected; endOfInterrupt is
	// accepted and ignored.
	// +kubebuilder:validation:XValidation:rule="!has(self.enabled) || self.enabled",message="the APIC cannot be disabled on a q35 machine: remove enabled: false"
	// +optional
	APIC *FeatureAPIC `json:"apic,omitempty"`
	// smm turns System Management Mode on or off (-machine smm=on|off).
	// +optional
	SMM *FeatureState `json:"smm,omitempty"`
	// kvm - hidden: true hides the KVM signature from the guest (-cpu kvm=off).
	// +optional
	KVM *FeatureKVM `json:"kvm,omitempty"`
	// pvspinlock is accepted and ignored: QEMU offers paravirtual spinlocks
	// to KVM guests by default.
	// +optional
	Pvspinlock *FeatureState `json:"pvspinlock,omitempty"`
	// hyperv enlightenments for Windows guests. Not supported by VirtMesh yet.
	// +kubebuilder:validation:XValidation:rule="false",message="Hyper-V enlightenments (features.hyperv) are not supported by VirtMesh yet"
	// +optional
	Hyperv *Unsupported `json:"hyperv,omitempty"`
	// hypervPassthrough - Not supported by VirtMesh yet.
	// +kubebuilder:validation:XValidation:rule="false",message="features.hypervPassthrough is not supported by VirtMesh yet"
	// +optional
	HypervPassthrough *Unsupported `json:"hypervPassthrough,omitempty"`
}

// FeatureState turns a feature on (the default when present) or off.
type FeatureState struct {
	// enabled - true by default.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
}

// FeatureAPIC is the APIC.
type FeatureAPIC struct {
	// enabled - true by default.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// endOfInterrupt is accepted and ignored.
	// +optional
	EndOfInterrupt bool `json:"endOfInterrupt,omitempty"`
}

// FeatureKVM configures how KVM shows itself to the guest.
type FeatureKVM struct {
	// hidden hides the KVM hypervisor signature.
	// +optional
	Hidden bool `json:"hidden,omitempty"`
}

// DiskIOThreads is KubeVirt's IOThread pool size; accepted and ignored.
type DiskIOThreads struct {
	// supplementalPoolThreadCount is accepted and ignored.
	// +kubebuilder:validation:Maximum=256
	// +optional
	SupplementalPoolThreadCount *uint32 `json:"supplementalPoolThreadCount,omitempty"`
}

// Chassis is the SMBIOS chassis information (type 3).
type Chassis struct {
	// manufacturer of the chassis.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9 ._:/+-]*$`
	// +optional
	Manufacturer string `json:"manufacturer,omitempty"`
	// version of the chassis.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9 ._:/+-]*$`
	// +optional
	Version string `json:"version,omitempty"`
	// serial of the chassis.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9 ._:/+-]*$`
	// +optional
	Serial string `json:"serial,omitempty"`
	// asset tag of the chassis.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9 ._:/+-]*$`
	// +optional
	Asset string `json:"asset,omitempty"`
	// sku of the chassis.
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9 ._:/+-]*$`
	// +optional
	Sku string `json:"sku,omitempty"`
}
