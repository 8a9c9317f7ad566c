package v1alpha1

// Condition types of a MeshControlPlane.
const (
	// ConditionReconciled is True when the desired state was applied.
	ConditionReconciled = "Reconciled"
	// ConditionReady is True when every enabled component is available.
	ConditionReady = "Ready"
)

// Reasons of the Reconciled condition, one per failure class, worst first.
const (
	ReasonReconciled     = "Reconciled"
	ReasonInvalidSpec    = "InvalidSpec"
	ReasonApplyFailed    = "ApplyFailed"
	ReasonMemberConflict = "MemberConflict"
)

// Reasons of the Ready condition.
const (
	ReasonComponentsReady    = "ComponentsReady"
	ReasonComponentsNotReady = "ComponentsNotReady"
)
