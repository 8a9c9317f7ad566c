package launcher

import (
	"encoding/json"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/api/resource"
)

// VMI is the part of a VirtualMachineInstance (KubeVirt-compatible JSON) the
// launcher reads. It is decoded from the file the pod projects (podcontract.VMIFile), so
// the launcher depends on the JSON contract only, not on the API package's
// Go types or on the API server.
type VMI struct {
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
		UID       string `json:"uid"`
	} `json:"metadata"`
	Spec VMISpec `json:"spec"`
}

// VMISpec mirrors the fields of spec the launcher uses.
type VMISpec struct {
	Domain                        VMIDomain    `json:"domain"`
	Networks                      []VMINetwork `json:"networks"`
	Volumes                       []VMIVolume  `json:"volumes"`
	Hostname                      string       `json:"hostname,omitempty"`
	TerminationGracePeriodSeconds *int64       `json:"terminationGracePeriodSeconds,omitempty"`
	ReadinessProbe                *VMIProbe    `json:"readinessProbe,omitempty"`
	LivenessProbe                 *VMIProbe    `json:"livenessProbe,omitempty"`
}

// VMIDomain is spec.domain.
type VMIDomain struct {
	CPU *struct {
		Cores    uint32 `json:"cores,omitempty"`
		Sockets  uint32 `json:"sockets,omitempty"`
		Threads  uint32 `json:"threads,omitempty"`
		Model    string `json:"model,omitempty"`
		Features []struct {
			Name   string `json:"name"`
			Policy string `json:"policy,omitempty"`
		} `json:"features,omitempty"`
	} `json:"cpu,omitempty"`
	Memory *struct {
		Guest *resource.Quantity `json:"guest,omitempty"`
	} `json:"memory,omitempty"`
	Resources struct {
		Requests map[string]resource.Quantity `json:"requests,omitempty"`
		Limits   map[string]resource.Quantity `json:"limits,omitempty"`
	} `json:"resources,omitempty"`
	Machine *struct {
		Type string `json:"type,omitempty"`
	} `json:"machine,omitempty"`
	Firmware *struct {
		UUID   string `json:"uuid,omitempty"`
		Serial string `json:"serial,omitempty"`
	} `json:"firmware,omitempty"`
	Clock    *VMIClock    `json:"clock,omitempty"`
	Features *VMIFeatures `json:"features,omitempty"`
	Chassis  *VMIChassis  `json:"chassis,omitempty"`
	// RebootPolicy Terminate ends the run when the guest reboots.
	RebootPolicy string     `json:"rebootPolicy,omitempty"`
	Devices      VMIDevices `json:"devices"`
}

// VMIClock is spec.domain.clock.
type VMIClock struct {
	UTC *struct {
		OffsetSeconds *int64 `json:"offsetSeconds,omitempty"`
	} `json:"utc,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Timer    *struct {
		HPET *struct {
			Present *bool `json:"present,omitempty"`
		} `json:"hpet,omitempty"`
		PIT *struct {
			Present *bool `json:"present,omitempty"`
		} `json:"pit,omitempty"`
		RTC *struct {
			TickPolicy string `json:"tickPolicy,omitempty"`
			Track      string `json:"track,omitempty"`
		} `json:"rtc,omitempty"`
	} `json:"timer,omitempty"`
}

// VMIFeatures is spec.domain.features.
type VMIFeatures struct {
	SMM *struct {
		Enabled *bool `json:"enabled,omitempty"`
	} `json:"smm,omitempty"`
	KVM *struct {
		Hidden bool `json:"hidden,omitempty"`
	} `json:"kvm,omitempty"`
}

// VMIChassis is spec.domain.chassis (SMBIOS type 3).
type VMIChassis struct {
	Manufacturer string `json:"manufacturer,omitempty"`
	Version      string `json:"version,omitempty"`
	Serial       string `json:"serial,omitempty"`
	Asset        string `json:"asset,omitempty"`
	Sku          string `json:"sku,omitempty"`
}

// VMIDevices is spec.domain.devices.
type VMIDevices struct {
	Disks                []VMIDisk      `json:"disks"`
	Interfaces           []VMIInterface `json:"interfaces"`
	Rng                  *struct{}      `json:"rng,omitempty"`
	AutoattachMemBalloon *bool          `json:"autoattachMemBalloon,omitempty"`
	BlockMultiQueue      *bool          `json:"blockMultiQueue,omitempty"`
	Watchdog             *struct {
		Name     string `json:"name"`
		I6300ESB *struct {
			Action string `json:"action,omitempty"`
		} `json:"i6300esb,omitempty"`
	} `json:"watchdog,omitempty"`
}

// VMINetwork is spec.networks[].
type VMINetwork struct {
	Name string `json:"name"`
	Pod  *struct {
		VMNetworkCIDR     string `json:"vmNetworkCIDR,omitempty"`
		VMIPv6NetworkCIDR string `json:"vmIPv6NetworkCIDR,omitempty"`
	} `json:"pod,omitempty"`
}

// VMIDisk is spec.domain.devices.disks[].
type VMIDisk struct {
	Name        string         `json:"name"`
	Disk        *VMIDiskTarget `json:"disk,omitempty"`
	BootOrder   *uint32        `json:"bootOrder,omitempty"`
	Serial      string         `json:"serial,omitempty"`
	Cache       string         `json:"cache,omitempty"`
	ErrorPolicy string         `json:"errorPolicy,omitempty"`
}

// VMIDiskTarget is a disk's disk: target.
type VMIDiskTarget struct {
	Bus      string `json:"bus,omitempty"`
	ReadOnly bool   `json:"readonly,omitempty"`
}

// VMIInterface is spec.domain.devices.interfaces[].
type VMIInterface struct {
	Name       string    `json:"name"`
	Masquerade *struct{} `json:"masquerade,omitempty"`
	MacAddress string    `json:"macAddress,omitempty"`
	Model      string    `json:"model,omitempty"`
	BootOrder  *uint32   `json:"bootOrder,omitempty"`
}

// VMIVolume is spec.volumes[].
type VMIVolume struct {
	Name          string `json:"name"`
	ContainerDisk *struct {
		Image string `json:"image"`
		Path  string `json:"path,omitempty"`
	} `json:"containerDisk,omitempty"`
	CloudInitNoCloud *CloudInitNoCloud `json:"cloudInitNoCloud,omitempty"`
	// PersistentVolumeClaim marks a claim's disk; what compute opens and
	// its size come from its --persistent-disk flag, resolved by the
	// operator.
	PersistentVolumeClaim *struct {
		ClaimName string `json:"claimName"`
	} `json:"persistentVolumeClaim,omitempty"`
	EmptyDisk *struct {
		Capacity resource.Quantity `json:"capacity"`
	} `json:"emptyDisk,omitempty"`
}

// CloudInitNoCloud is a volume's cloudInitNoCloud source.
type CloudInitNoCloud struct {
	UserData          string `json:"userData,omitempty"`
	UserDataBase64    string `json:"userDataBase64,omitempty"`
	NetworkData       string `json:"networkData,omitempty"`
	NetworkDataBase64 string `json:"networkDataBase64,omitempty"`
}

// LoadVMI reads and decodes the VMI JSON the pod projected.
func LoadVMI(path string) (*VMI, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read VMI: %w", err)
	}
	v, err := ParseVMI(b)
	if err != nil {
		return nil, fmt.Errorf("VMI %s: %w", path, err)
	}
	return v, nil
}

// ParseVMI decodes the VMI JSON the renderer wrote (podcontract.VMIAnnotation).
func ParseVMI(b []byte) (*VMI, error) {
	var v VMI
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if v.Metadata.Name == "" {
		return nil, fmt.Errorf("metadata.name is empty")
	}
	return &v, nil
}

// GracePeriodSeconds is spec.terminationGracePeriodSeconds, 30 by default
// (KubeVirt's and Kubernetes' default).
func (s *VMISpec) GracePeriodSeconds() int64 {
	if s.TerminationGracePeriodSeconds != nil {
		return *s.TerminationGracePeriodSeconds
	}
	return 30
}

// Hostname is spec.hostname, defaulting to the VMI's name.
func (v *VMI) Hostname() string {
	if v.Spec.Hostname != "" {
		return v.Spec.Hostname
	}
	return v.Metadata.Name
}
