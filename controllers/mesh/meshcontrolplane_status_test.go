package mesh

import (
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
)

func TestDeploymentReady(t *testing.T) {
	two := int32(2)
	avail := []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}}
	cases := map[string]struct {
		d    appsv1.Deployment
		want bool
	}{
		"ready": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, ReadyReplicas: 2, Conditions: avail}}, true},
		"too few ready": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, ReadyReplicas: 1, Conditions: avail}}, false},
		"stale generation": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 4}, Spec: appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, ReadyReplicas: 2, Conditions: avail}}, false},
		"not Available": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 3}, Spec: appsv1.DeploymentSpec{Replicas: &two},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 3, ReadyReplicas: 2}}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := deploymentReady(&tc.d); got != tc.want {
				t.Errorf("deploymentReady = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSetReconciled(t *testing.T) {
	cases := map[string]struct {
		in         reconciledInput
		wantStatus metav1.ConditionStatus
		wantReason string
	}{
		"ok":                  {reconciledInput{Generation: 2}, metav1.ConditionTrue, meshv1alpha1.ReasonReconciled},
		"invalid wins":        {reconciledInput{InvalidSpec: []string{"x"}, ApplyErr: errors.New("y"), Conflicts: []string{"z"}}, metav1.ConditionFalse, meshv1alpha1.ReasonInvalidSpec},
		"apply before member": {reconciledInput{ApplyErr: errors.New("y"), Conflicts: []string{"z"}}, metav1.ConditionFalse, meshv1alpha1.ReasonApplyFailed},
		"member conflict":     {reconciledInput{Conflicts: []string{"z"}}, metav1.ConditionFalse, meshv1alpha1.ReasonMemberConflict},
		"conflict before crd": {reconciledInput{Conflicts: []string{"z"}, MissingCRD: "m"}, metav1.ConditionFalse, meshv1alpha1.ReasonMemberConflict},
		"missing crd":         {reconciledInput{MissingCRD: "STRICT is not enforced"}, metav1.ConditionFalse, meshv1alpha1.ReasonIstioCRDsMissing},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var conds []metav1.Condition
			setReconciled(&conds, tc.in)
			c := meta.FindStatusCondition(conds, meshv1alpha1.ConditionReconciled)
			if c.Status != tc.wantStatus || c.Reason != tc.wantReason || c.ObservedGeneration != tc.in.Generation {
				t.Errorf("got %+v", c)
			}
		})
	}
}

func TestSetReadyKeepsTransitionTime(t *testing.T) {
	var conds []metav1.Condition
	r := meshv1alpha1.ComponentReadiness{Ready: []string{"istiod"}, Unready: []string{"kiali"}, Pending: []string{"grafana"}}
	setReady(&conds, readyInput{Generation: 1, Components: r})
	c := meta.FindStatusCondition(conds, meshv1alpha1.ConditionReady)
	if c.Status != metav1.ConditionFalse || c.Message != "not available: kiali; not created yet: grafana" {
		t.Fatalf("got %+v", c)
	}
	if got := componentsReady(r); got != "1/3" {
		t.Errorf("componentsReady = %s", got)
	}
	before := c.LastTransitionTime
	setReady(&conds, readyInput{Generation: 1, Components: r})
	if c := meta.FindStatusCondition(conds, meshv1alpha1.ConditionReady); !c.LastTransitionTime.Equal(&before) {
		t.Errorf("lastTransitionTime moved without a status change")
	}
	setReady(&conds, readyInput{Generation: 1, Components: meshv1alpha1.ComponentReadiness{Ready: []string{"istiod"}}})
	if c := meta.FindStatusCondition(conds, meshv1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
		t.Errorf("got %+v", c)
	}
}

func TestPermanent(t *testing.T) {
	invalid := apierrors.NewInvalid(schema.GroupKind{Kind: "Deployment"}, "istiod", nil)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "deployments"}, "istiod", errors.New("no"))
	quota := apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "x", errors.New("exceeded quota: q"))
	timeout := apierrors.NewTimeoutError("slow", 1)
	cases := map[string]struct {
		err  error
		want bool
	}{
		"nil":                         {nil, false},
		"invalid":                     {invalid, true},
		"wrapped invalid":             {fmt.Errorf("apply Deployment istiod: %w", invalid), true},
		"forbidden":                   {forbidden, true},
		"quota":                       {quota, false},
		"timeout":                     {timeout, false},
		"all permanent, joined":       {errors.Join(invalid, fmt.Errorf("x: %w", forbidden)), true},
		"one retryable among them":    {errors.Join(invalid, timeout), false},
		"wrapped join with one retry": {fmt.Errorf("apply: %w", errors.Join(invalid, timeout)), false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := permanent(tc.err); got != tc.want {
				t.Errorf("permanent(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestSetReady(t *testing.T) {
	ready := meshv1alpha1.ComponentReadiness{Ready: []string{"istiod"}}
	cases := map[string]struct {
		in                 readyInput
		want, wantMessages string // "Status/Reason", substring of the message
	}{
		"all there": {readyInput{Components: ready}, "True/ComponentsReady", "root certificate is in every member"},
		"istiod unready": {readyInput{Components: meshv1alpha1.ComponentReadiness{Unready: []string{"istiod"}}},
			"False/ComponentsNotReady", "not available: istiod"},
		"root cert missing": {readyInput{Components: ready, RootCert: rootCertMessage(rootCertObservation{missing: []string{"bookinfo", "shop"}})},
			"False/RootCertNotPublished", "istiod has not published its root certificate (ConfigMap istio-ca-root-cert) in member namespaces: bookinfo, shop"},
		"no CA yet": {readyInput{Components: ready, RootCert: rootCertMessage(rootCertObservation{noCA: "no Secret istio-ca-secret"})},
			"False/RootCertNotPublished", "istiod has not created its CA yet: no Secret istio-ca-secret"},
		"another CA's root": {readyInput{Components: ready, RootCert: rootCertMessage(rootCertObservation{foreign: []string{"bookinfo"}, ca: "mesh/istio-ca-secret"})},
			"False/RootCertNotPublished", "in member namespaces bookinfo holds another CA's root, not this control plane's (mesh/istio-ca-secret)"},
		"both named": {readyInput{Components: meshv1alpha1.ComponentReadiness{Unready: []string{"istiod"}}, RootCert: rootCertMessage(rootCertObservation{missing: []string{"bookinfo"}})},
			"False/ComponentsNotReady", "not available: istiod; istiod has not published its root certificate"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var conds []metav1.Condition
			setReady(&conds, tc.in)
			c := meta.FindStatusCondition(conds, meshv1alpha1.ConditionReady)
			if got := string(c.Status) + "/" + c.Reason; got != tc.want || !strings.Contains(c.Message, tc.wantMessages) {
				t.Errorf("got %s %q, want %s containing %q", got, c.Message, tc.want, tc.wantMessages)
			}
		})
	}
}

func TestContainsCert(t *testing.T) {
	a := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("root-a")})
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("root-b")})
	if !containsCert(append(append([]byte{}, a...), b...), []byte("root-b")) {
		t.Errorf("the second root of a bundle is not found")
	}
	if containsCert(a, []byte("root-b")) || containsCert([]byte("not PEM"), []byte("root-a")) {
		t.Errorf("a root not in the bundle is found")
	}
}
