package v1alpha1

// Condition types of a MeshControlPlane.
const (
	// ConditionReconciled is True when the desired state was applied.
	ConditionReconciled = "Reconciled"
	// ConditionReady is True when every enabled component is available
	// (istiod: its readiness probe, GET :8080/ready, passes), istiod has its
	// CA, and the CA's root certificate is in every member namespace.
	ConditionReady = "Ready"
)

// Reasons of the Reconciled condition, one per failure class, worst first.
const (
	ReasonReconciled     = "Reconciled"
	ReasonInvalidSpec    = "InvalidSpec"
	ReasonApplyFailed    = "ApplyFailed"
	ReasonMemberConflict = "MemberConflict"
	// ReasonIstioCRDsMissing: the mesh-wide mTLS mode (STRICT or DISABLE)
	// needs a PeerAuthentication, and Istio's PeerAuthentication CRD is not
	// installed (install config/crd, which ships Istio's CRDs).
	ReasonIstioCRDsMissing = "IstioCRDsMissing"
)

// Reasons of the Ready condition, worst first.
const (
	ReasonComponentsReady    = "ComponentsReady"
	ReasonComponentsNotReady = "ComponentsNotReady"
	// ReasonRootCertNotPublished: every component is available, but istiod
	// has not (yet) written its root certificate (ConfigMap
	// istio-ca-root-cert) into every member namespace, so proxies there
	// cannot start.
	ReasonRootCertNotPublished = "RootCertNotPublished"
)
