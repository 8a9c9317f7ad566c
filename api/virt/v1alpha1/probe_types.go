package v1alpha1

import (
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Probe is KubeVirt's guest probe. VirtMesh runs it from inside the launcher
// pod against the guest's own address (the VM network's .2, 10.0.2.2 by
// default), so neither the kubelet's network nor the mesh's proxy is on the
// path: a probe sees what the guest serves, not what the proxy answers.
// +kubebuilder:validation:XValidation:rule="(has(self.httpGet) ? 1 : 0) + (has(self.tcpSocket) ? 1 : 0) + (has(self.exec) ? 1 : 0) + (has(self.guestAgentPing) ? 1 : 0) == 1",message="a probe needs exactly one of httpGet and tcpSocket"
type Probe struct {
	// exec runs a command in the guest through the QEMU guest agent. Not
	// supported by VirtMesh, which has no guest agent channel.
	// +kubebuilder:validation:XValidation:rule="false",message="exec probes need the QEMU guest agent, which VirtMesh does not run: probe the guest's service with tcpSocket or httpGet"
	// +optional
	Exec *Unsupported `json:"exec,omitempty"`

	// guestAgentPing pings the QEMU guest agent. Not supported by VirtMesh.
	// +kubebuilder:validation:XValidation:rule="false",message="guestAgentPing needs the QEMU guest agent, which VirtMesh does not run: probe the guest's service with tcpSocket or httpGet"
	// +optional
	GuestAgentPing *Unsupported `json:"guestAgentPing,omitempty"`

	// httpGet sends GET to the guest; a status from 200 to 399 succeeds
	// (redirects are not followed).
	// +optional
	HTTPGet *HTTPGetProbe `json:"httpGet,omitempty"`

	// tcpSocket opens a TCP connection to the guest; a connection succeeds.
	// +optional
	TCPSocket *TCPSocketProbe `json:"tcpSocket,omitempty"`

	// initialDelaySeconds waits this long after the guest starts before the
	// first probe.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	// +optional
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`

	// timeoutSeconds bounds one probe. 0 means 1.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`

	// periodSeconds is the time between probes. 0 means 10.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=3600
	// +optional
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`

	// successThreshold is how many probes in a row must succeed after a
	// failure. 0 means 1; a livenessProbe's must be 1.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	SuccessThreshold int32 `json:"successThreshold,omitempty"`

	// failureThreshold is how many probes in a row must fail: a readiness
	// probe then takes the VM out of its Services, a liveness probe ends the
	// run (the VMI fails; a VirtualMachine starts a new one). 0 means 3.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// HTTPGetProbe is the Kubernetes HTTPGetAction a guest probe may use.
type HTTPGetProbe struct {
	// path of the request; "/" when empty.
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	Path string `json:"path,omitempty"`

	// port of the guest, a number: a probe cannot resolve a named port in
	// the guest.
	// +kubebuilder:validation:XValidation:rule="type(self) == int && int(self) >= 1 && int(self) <= 65535",message="port must be a number from 1 to 65535: a probe cannot resolve a named port in the guest"
	// +required
	Port *intstr.IntOrString `json:"port,omitempty"`

	// host is not supported: the probe always asks the guest.
	// +kubebuilder:validation:XValidation:rule="false",message="host is not supported: the probe always reaches the guest's own address; set a Host header in httpHeaders for virtual hosts"
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Host string `json:"host,omitempty"`

	// scheme is HTTP (default) or HTTPS; HTTPS does not verify the guest's
	// certificate, as with the kubelet.
	// +kubebuilder:validation:Enum=HTTP;HTTPS
	// +optional
	Scheme string `json:"scheme,omitempty"`

	// httpHeaders are added to the request; a Host header sets the host.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an HTTP probe.
type HTTPHeader struct {
	// name of the header.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^[-A-Za-z0-9!#$%&'*+.^_|~]+$`
	// +required
	Name string `json:"name,omitempty"`
	// value of the header; it may be empty.
	// +kubebuilder:validation:MaxLength=4096
	// +required
	Value *string `json:"value,omitempty"`
}

// TCPSocketProbe is the Kubernetes TCPSocketAction a guest probe may use.
type TCPSocketProbe struct {
	// port of the guest, a number: a probe cannot resolve a named port in
	// the guest.
	// +kubebuilder:validation:XValidation:rule="type(self) == int && int(self) >= 1 && int(self) <= 65535",message="port must be a number from 1 to 65535: a probe cannot resolve a named port in the guest"
	// +required
	Port *intstr.IntOrString `json:"port,omitempty"`

	// host is not supported: the probe always asks the guest.
	// +kubebuilder:validation:XValidation:rule="false",message="host is not supported: the probe always reaches the guest's own address"
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Host string `json:"host,omitempty"`
}
