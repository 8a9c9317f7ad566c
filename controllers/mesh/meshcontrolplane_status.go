package mesh

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
)

// observation is what one reconcile did and saw; status is computed from it.
type observation struct {
	invalidSpec []string
	applyErr    error
	members     memberPlan
	readiness   meshv1alpha1.ComponentReadiness
	snapshot    string
	// retry: a namespace changed under us (stale cache); try again shortly
	// instead of reporting ApplyFailed.
	retry bool
	// peerAuthenticationCRDMissing: the mTLS mode needs a PeerAuthentication
	// and its CRD is not served.
	peerAuthenticationCRDMissing bool
	rootCert                     rootCertObservation
}

func computeStatus(mcp *meshv1alpha1.MeshControlPlane, obs observation) meshv1alpha1.MeshControlPlaneStatus {
	s := *mcp.Status.DeepCopy()
	s.ObservedGeneration = mcp.Generation
	s.Version = mcp.Spec.Version
	s.Members = obs.members.Status
	s.Readiness.Components = obs.readiness
	s.ComponentsReady = componentsReady(obs.readiness)
	if obs.snapshot != "" {
		s.InjectionSnapshot = obs.snapshot
	}
	in := reconciledInput{Generation: mcp.Generation, InvalidSpec: obs.invalidSpec, ApplyErr: obs.applyErr, Conflicts: obs.members.Conflicts}
	if obs.peerAuthenticationCRDMissing {
		in.MissingCRD = fmt.Sprintf("security.mtls %s is not enforced: Istio's PeerAuthentication CRD (peerauthentications.security.istio.io) is not installed, "+
			"so the mesh-wide policy cannot be created; install VirtMesh's Istio CRDs (kubectl apply --server-side -k config/crd) or Istio's base chart", mcp.Spec.Security.MTLS)
	}
	setReconciled(&s.Conditions, in)
	setReady(&s.Conditions, readyInput{Generation: mcp.Generation, Components: obs.readiness, RootCert: rootCertMessage(obs.rootCert)})
	return s
}

// deploymentReady: readyReplicas ≥ replicas, observedGeneration ≥ generation
// and Available=True.
func deploymentReady(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.ReadyReplicas < want || d.Status.ObservedGeneration < d.Generation {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// reconciledInput is what decides the Reconciled condition, worst first.
type reconciledInput struct {
	Generation  int64
	InvalidSpec []string // messages
	ApplyErr    error
	Conflicts   []string
	MissingCRD  string // message; "" when nothing is missing
}

func setReconciled(conds *[]metav1.Condition, in reconciledInput) {
	c := metav1.Condition{Type: meshv1alpha1.ConditionReconciled, ObservedGeneration: in.Generation,
		Status: metav1.ConditionTrue, Reason: meshv1alpha1.ReasonReconciled, Message: "Desired state applied"}
	switch {
	case len(in.InvalidSpec) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, meshv1alpha1.ReasonInvalidSpec, strings.Join(in.InvalidSpec, "; ")
	case in.ApplyErr != nil:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, meshv1alpha1.ReasonApplyFailed, in.ApplyErr.Error()
	case len(in.Conflicts) > 0:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, meshv1alpha1.ReasonMemberConflict, strings.Join(in.Conflicts, "; ")
	case in.MissingCRD != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, meshv1alpha1.ReasonIstioCRDsMissing, in.MissingCRD
	}
	meta.SetStatusCondition(conds, c)
}

// readyInput is what decides the Ready condition.
type readyInput struct {
	Generation int64
	Components meshv1alpha1.ComponentReadiness
	// RootCert says what istiod has not published in the members; "" when
	// every member has its root certificate.
	RootCert string
}

func setReady(conds *[]metav1.Condition, in readyInput) {
	r := in.Components
	c := metav1.Condition{Type: meshv1alpha1.ConditionReady, ObservedGeneration: in.Generation,
		Status: metav1.ConditionTrue, Reason: meshv1alpha1.ReasonComponentsReady,
		Message: "All components are available and istiod's root certificate is in every member namespace"}
	var parts []string
	if len(r.Unready) > 0 {
		parts = append(parts, "not available: "+strings.Join(r.Unready, ", "))
	}
	if len(r.Pending) > 0 {
		parts = append(parts, "not created yet: "+strings.Join(r.Pending, ", "))
	}
	notReady := len(parts) > 0 || len(r.Ready) == 0
	if in.RootCert != "" {
		parts = append(parts, in.RootCert)
	}
	switch {
	case notReady:
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, meshv1alpha1.ReasonComponentsNotReady, strings.Join(parts, "; ")
	case in.RootCert != "":
		c.Status, c.Reason, c.Message = metav1.ConditionFalse, meshv1alpha1.ReasonRootCertNotPublished, in.RootCert
	}
	meta.SetStatusCondition(conds, c)
}

func componentsReady(r meshv1alpha1.ComponentReadiness) string {
	return fmt.Sprintf("%d/%d", len(r.Ready), len(r.Ready)+len(r.Unready)+len(r.Pending))
}

// recordTransition emits an event when the Reconciled or Ready condition
// changes status or reason — what a user reading `kubectl describe` needs to
// see — and not on every reconcile. Failures are Warnings; reaching True is
// Normal.
func (r *MeshControlPlaneReconciler) recordTransition(mcp *meshv1alpha1.MeshControlPlane, status meshv1alpha1.MeshControlPlaneStatus) {
	if r.Recorder == nil {
		return
	}
	for _, condType := range []string{meshv1alpha1.ConditionReconciled, meshv1alpha1.ConditionReady} {
		old := meta.FindStatusCondition(mcp.Status.Conditions, condType)
		cur := meta.FindStatusCondition(status.Conditions, condType)
		if cur == nil || (old != nil && old.Status == cur.Status && old.Reason == cur.Reason) {
			continue
		}
		eventType := corev1.EventTypeWarning
		if cur.Status == metav1.ConditionTrue {
			eventType = corev1.EventTypeNormal
		}
		r.Recorder.Eventf(mcp, nil, eventType, cur.Reason, condType, "%s", cur.Message)
	}
}
