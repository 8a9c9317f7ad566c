package mesh

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
	"virtmesh.io/virtmesh/internal/testing/mcpbuilder"
)

// selfSignedPEM is a CA certificate like the one istiod creates.
func selfSignedPEM(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{Organization: []string{cn}},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestReadyNeedsRootCertInMembers: an available istiod is not enough; Ready
// waits for its CA and for its root certificate in every member, and says
// which is missing. Here the test plays istiod's part (writing the CA Secret
// and the ConfigMaps); test/istio runs the real one.
func TestReadyNeedsRootCertInMembers(t *testing.T) {
	ctx := context.Background()
	createNamespace(t, "rc-mesh", nil)
	createNamespace(t, "rc-member", nil)
	mcp := mcpbuilder.Make("basic", "rc-mesh").Members("rc-member").Obj()
	if err := k8s.Create(ctx, mcp); err != nil {
		t.Fatal(err)
	}
	markAvailable(t, "rc-mesh", "istiod")
	waitReadyMessage(t, mcp, meshv1alpha1.ReasonRootCertNotPublished, "istiod has not created its CA yet: no Secret istio-ca-secret")

	root := createCASecret(t, "rc-mesh")
	waitReadyMessage(t, mcp, meshv1alpha1.ReasonRootCertNotPublished, "in member namespaces: rc-member")

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "rc-member", Name: cp.RootCertConfigMap},
		Data: map[string]string{cp.RootCertKey: selfSignedPEM(t, "another mesh")}}
	if err := k8s.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitReadyMessage(t, mcp, meshv1alpha1.ReasonRootCertNotPublished, "holds another CA's root, not this control plane's (rc-mesh/istio-ca-secret)")

	cm.Data[cp.RootCertKey] = selfSignedPEM(t, "old root") + root
	if err := k8s.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, mcp, meshv1alpha1.ConditionReady, metav1.ConditionTrue, meshv1alpha1.ReasonComponentsReady)
}

// createCASecret writes the Secret istiod keeps its self-signed CA in and
// returns the root (PEM).
func createCASecret(t *testing.T, ns string) string {
	t.Helper()
	root := selfSignedPEM(t, "mesh CA")
	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: cp.SelfSignedCASecret},
		Data: map[string][]byte{"ca-cert.pem": []byte(root), "ca-key.pem": []byte("unused")}}
	if err := k8s.Create(context.Background(), ca); err != nil {
		t.Fatal(err)
	}
	return root
}

func waitReadyMessage(t *testing.T, mcp *meshv1alpha1.MeshControlPlane, reason, message string) {
	t.Helper()
	eventually(t, "Ready "+reason+" containing "+message, func() error {
		got := getMCP(t, mcp)
		c := condition(got, meshv1alpha1.ConditionReady)
		if c.Status != metav1.ConditionFalse || c.Reason != reason || !strings.Contains(c.Message, message) || c.ObservedGeneration != got.Generation {
			return fmt.Errorf("Ready is %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		return nil
	})
}
