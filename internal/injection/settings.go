// Package injection holds the proxy-injection settings a MeshControlPlane
// publishes and the VirtualMachineInstance controller renders launcher pods
// from. The settings travel as an immutable, content-addressed ConfigMap (a
// "snapshot"): a launcher pod is rendered from exactly one snapshot, and a
// change to the mesh makes a new snapshot instead of mutating the one running
// pods were rendered from.
package injection

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// Settings is everything the launcher-pod renderer needs from the mesh. It is
// resolved by the MeshControlPlane controller, so the renderer looks nothing up.
type Settings struct {
	// ControlPlaneNamespace and ControlPlaneName identify the MeshControlPlane.
	ControlPlaneNamespace string `json:"controlPlaneNamespace"`
	ControlPlaneName      string `json:"controlPlaneName"`
	// Revision of the control plane; empty for the default revision.
	Revision string `json:"revision,omitempty"`

	// ProxyImage is the sidecar image.
	ProxyImage string `json:"proxyImage"`
	// ProxyResources of the sidecar.
	ProxyResources corev1.ResourceRequirements `json:"proxyResources"`
	// ProxyLogLevel of the sidecar.
	ProxyLogLevel string `json:"proxyLogLevel"`

	// DiscoveryAddress is istiod's xDS address, host:port (port 15012).
	DiscoveryAddress string `json:"discoveryAddress"`
	// ClusterID names the cluster in the mesh.
	ClusterID string `json:"clusterID"`
	// ClusterDomain is the cluster's DNS domain; empty means cluster.local
	// (snapshots published before the field existed).
	ClusterDomain string `json:"clusterDomain,omitempty"`
	// ProxyConfig is the mesh config's defaultConfig (ProxyConfig fields as
	// JSON); the sidecar's PROXY_CONFIG is it merged with the VMI's
	// proxy.istio.io/config annotation.
	ProxyConfig map[string]any `json:"proxyConfig,omitempty"`
	// EnablePrometheusMerge mirrors the mesh config: the proxy's agent serves
	// merged metrics on :15020/stats/prometheus and pods say so in their
	// prometheus.io/* annotations.
	EnablePrometheusMerge bool `json:"enablePrometheusMerge,omitempty"`
	// TrustDomain of workload identities.
	TrustDomain string `json:"trustDomain"`
	// RootCertConfigMap is the ConfigMap (in every member namespace) holding the
	// mesh's root certificate, which proxies mount.
	RootCertConfigMap string `json:"rootCertConfigMap"`

	// ProxyUID and ProxyGID the sidecar runs as; its traffic is not captured.
	ProxyUID int64 `json:"proxyUID"`
	ProxyGID int64 `json:"proxyGID"`
	// InboundCapturePort receives captured inbound traffic (15006).
	InboundCapturePort int32 `json:"inboundCapturePort"`
	// OutboundCapturePort receives captured outbound traffic (15001).
	OutboundCapturePort int32 `json:"outboundCapturePort"`

	// IncludeOutboundIPRanges: ["*"] for all destinations, or CIDRs.
	IncludeOutboundIPRanges []string `json:"includeOutboundIPRanges"`
	// ExcludeOutboundIPRanges bypass the proxy.
	ExcludeOutboundIPRanges []string `json:"excludeOutboundIPRanges,omitempty"`
	// ExcludeInboundPorts bypass the proxy (in addition to the proxy's own).
	ExcludeInboundPorts []int32 `json:"excludeInboundPorts,omitempty"`
	// ExcludeOutboundPorts bypass the proxy.
	ExcludeOutboundPorts []int32 `json:"excludeOutboundPorts,omitempty"`

	// HoldApplicationUntilProxyStarts starts the VM only once the proxy is ready.
	HoldApplicationUntilProxyStarts bool `json:"holdApplicationUntilProxyStarts"`
}

const (
	// DataKey is the ConfigMap key holding the JSON-encoded Settings.
	DataKey = "settings.json"
	// LabelSnapshot marks snapshot ConfigMaps (value "true").
	LabelSnapshot = "mesh.virtmesh.io/injection-snapshot"
	// LabelControlPlane names, on a snapshot, the MeshControlPlane that made it.
	LabelControlPlane = "mesh.virtmesh.io/control-plane"
)

// Hash is a short, stable digest of the settings; equal settings give equal
// hashes, so publishing the same settings twice is a no-op.
func (s Settings) Hash() string {
	b, err := json.Marshal(s)
	if err != nil {
		// Settings holds only JSON-safe types; a failure is a programming error.
		panic(fmt.Sprintf("injection: marshal settings: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// SnapshotName is the name of the ConfigMap holding these settings for the
// named MeshControlPlane.
func (s Settings) SnapshotName() string {
	return fmt.Sprintf("%s-injection-%s", s.ControlPlaneName, s.Hash())
}

// Snapshot renders the immutable ConfigMap that publishes the settings.
func (s Settings) Snapshot() (*corev1.ConfigMap, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode injection settings: %w", err)
	}
	immutable := true
	return &corev1.ConfigMap{
		TypeMeta: metaTypeConfigMap,
		ObjectMeta: objectMeta(s.SnapshotName(), s.ControlPlaneNamespace, map[string]string{
			LabelSnapshot:     "true",
			LabelControlPlane: s.ControlPlaneName,
		}),
		Immutable: &immutable,
		Data:      map[string]string{DataKey: string(b)},
	}, nil
}

// FromSnapshot decodes the settings a snapshot ConfigMap holds.
func FromSnapshot(cm *corev1.ConfigMap) (Settings, error) {
	raw, ok := cm.Data[DataKey]
	if !ok {
		return Settings{}, fmt.Errorf("injection snapshot %s/%s has no %q key", cm.Namespace, cm.Name, DataKey)
	}
	var s Settings
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Settings{}, fmt.Errorf("decode injection snapshot %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return s, nil
}
