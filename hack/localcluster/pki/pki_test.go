package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"testing"
)

func TestIssuedCertificatesVerifyAgainstTheCA(t *testing.T) {
	ca, err := NewCA("virtmesh-local-ca")
	if err != nil {
		t.Fatal(err)
	}
	again, err := LoadCA(ca.CertPEM, ca.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	server, err := again.Issue(Spec{CommonName: "kube-apiserver", DNSNames: []string{"kubernetes.default.svc"}, IPs: []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP("192.0.2.2")}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	node, err := again.Issue(Spec{CommonName: "system:node:n1", Organizations: []string{"system:nodes"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)

	sc := parse(t, server.CertPEM)
	if _, err := sc.Verify(x509.VerifyOptions{Roots: pool, DNSName: "10.96.0.1"}); err != nil {
		t.Errorf("serving certificate for the kubernetes Service IP: %v", err)
	}
	if _, err := sc.Verify(x509.VerifyOptions{Roots: pool, DNSName: "kubernetes.default.svc"}); err != nil {
		t.Errorf("serving certificate for kubernetes.default.svc: %v", err)
	}
	nc := parse(t, node.CertPEM)
	if _, err := nc.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client certificate: %v", err)
	}
	if nc.Subject.CommonName != "system:node:n1" || !slices.Equal(nc.Subject.Organization, []string{"system:nodes"}) {
		t.Errorf("the node's identity is its subject: %v", nc.Subject)
	}
	if _, err := tls.X509KeyPair(node.CertPEM, node.KeyPEM); err != nil {
		t.Errorf("certificate and key do not match: %v", err)
	}
	if _, err := again.Issue(Spec{CommonName: "x"}); err == nil {
		t.Error("a certificate without a usage must be refused")
	}
}

func TestServiceAccountKey(t *testing.T) {
	priv, pub, err := ServiceAccountKey()
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := pem.Decode(priv); b == nil || b.Type != "RSA PRIVATE KEY" {
		t.Errorf("private key: %v", b)
	}
	if b, _ := pem.Decode(pub); b == nil || b.Type != "PUBLIC KEY" {
		t.Errorf("public key: %v", b)
	}
}

func parse(t *testing.T, p []byte) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode(p)
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
