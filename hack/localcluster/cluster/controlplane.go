package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
	"virtmesh.io/virtmesh/hack/localcluster/pki"
)

// insecureClient talks to the components' self-signed health endpoints.
var insecureClient = &http.Client{
	Timeout:   5 * time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, //nolint:gosec // loopback health checks of components this program started
}

// PKI writes the cluster's certificates and kubeconfigs (all in the work
// directory; nothing to undo on the host).
type PKI struct{}

// Name implements Component.
func (PKI) Name() string { return "pki" }

// Undo implements Component: the PKI is in the work directory.
func (PKI) Undo(*Env) []journal.Step { return nil }

// Start implements Component.
func (PKI) Start(_ context.Context, e *Env) error {
	n := e.Node
	ca, err := pki.NewCA("virtmesh-local-ca")
	if err != nil {
		return err
	}
	svcIP, err := n.Network.KubernetesServiceIP()
	if err != nil {
		return err
	}
	nodeIP := net.ParseIP(n.Network.NodeIP)
	files := map[string][]byte{nodecfg.CACert: ca.CertPEM, nodecfg.CAKey: ca.KeyPEM}
	issue := func(certName, keyName string, s pki.Spec) (pki.KeyPair, error) {
		kp, err := ca.Issue(s)
		if err != nil {
			return kp, err
		}
		if certName != "" {
			files[certName], files[keyName] = kp.CertPEM, kp.KeyPEM
		}
		return kp, nil
	}
	if _, err := issue(nodecfg.APIServerCert, nodecfg.APIServerKey, pki.Spec{
		CommonName: "kube-apiserver", Server: true,
		DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc." + n.Network.ClusterDomain, "localhost", n.Name},
		IPs:      []net.IP{nodeIP, svcIP, net.ParseIP("127.0.0.1")},
	}); err != nil {
		return err
	}
	if _, err := issue(nodecfg.APIServerKubeletCert, nodecfg.APIServerKubeletKey, pki.Spec{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"system:masters"}, Client: true}); err != nil {
		return err
	}
	if _, err := issue(nodecfg.KubeletServingCert, nodecfg.KubeletServingKey, pki.Spec{CommonName: n.Name, DNSNames: []string{n.Name}, IPs: []net.IP{nodeIP}, Server: true}); err != nil {
		return err
	}
	saKey, saPub, err := pki.ServiceAccountKey()
	if err != nil {
		return err
	}
	files[nodecfg.ServiceAccountKeyFile], files[nodecfg.ServiceAccountPubFile] = saKey, saPub
	for name, b := range files {
		if err := WriteFile(e.Layout.PKI(name), b, 0o600); err != nil {
			return err
		}
	}
	// One client identity per component, as kubeadm makes them.
	clients := []struct {
		path string
		spec pki.Spec
	}{
		{e.Layout.Kubeconfig(), pki.Spec{CommonName: "virtmesh-local-admin", Organizations: []string{"system:masters"}, Client: true}},
		{e.Layout.ComponentKubeconfig("kube-controller-manager"), pki.Spec{CommonName: "system:kube-controller-manager", Client: true}},
		{e.Layout.ComponentKubeconfig("kube-scheduler"), pki.Spec{CommonName: "system:kube-scheduler", Client: true}},
		{e.Layout.ComponentKubeconfig("kubelet"), pki.Spec{CommonName: "system:node:" + n.Name, Organizations: []string{"system:nodes"}, Client: true}},
		{e.Layout.ComponentKubeconfig("kube-proxy"), pki.Spec{CommonName: "system:kube-proxy", Client: true}},
	}
	for _, c := range clients {
		kp, err := issue("", "", c.spec)
		if err != nil {
			return err
		}
		if err := WriteFile(c.path, nodecfg.Kubeconfig(n.APIServerURL(), c.spec.CommonName, ca.CertPEM, kp.CertPEM, kp.KeyPEM), 0o600); err != nil {
			return err
		}
	}
	return nil
}

// Ready implements Component.
func (PKI) Ready(context.Context, *Env) error { return nil }

// adminClient is an HTTPS client with the admin identity, trusting the CA.
func adminClient(e *Env) (*http.Client, error) {
	caPEM, err := os.ReadFile(e.Layout.PKI(nodecfg.CACert))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cert, err := loadKubeconfigCert(e.Layout.Kubeconfig())
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}}, nil
}

// Etcd is the cluster's etcd.
type Etcd struct{}

// Name implements Component.
func (Etcd) Name() string { return "etcd" }

// Undo implements Component.
func (Etcd) Undo(e *Env) []journal.Step {
	return []journal.Step{stopDaemonStep(e, "etcd", 10*time.Second)}
}

// Start implements Component.
func (Etcd) Start(_ context.Context, e *Env) error {
	if err := os.MkdirAll(e.Layout.EtcdData(), 0o700); err != nil {
		return err
	}
	return e.StartDaemon("etcd", filepath.Join(e.Bin, "etcd"), nodecfg.EtcdArgs(e.Node))
}

// Ready implements Component.
func (Etcd) Ready(ctx context.Context, e *Env) error {
	url := fmt.Sprintf("http://127.0.0.1:%d/health", e.Node.Ports.EtcdClient)
	return e.Poll(ctx, "etcd", "healthy", 200*time.Millisecond, func(ctx context.Context) error { return httpOK(ctx, http.DefaultClient, url) })
}

// APIServer is kube-apiserver.
type APIServer struct{}

// Name implements Component.
func (APIServer) Name() string { return "kube-apiserver" }

// Undo implements Component.
func (APIServer) Undo(e *Env) []journal.Step {
	return []journal.Step{stopDaemonStep(e, "kube-apiserver", 15*time.Second)}
}

// Start implements Component.
func (APIServer) Start(_ context.Context, e *Env) error {
	return e.StartDaemon("kube-apiserver", filepath.Join(e.Bin, "kube-apiserver"), nodecfg.APIServerArgs(e.Node))
}

// Ready implements Component.
func (APIServer) Ready(ctx context.Context, e *Env) error {
	client, err := adminClient(e)
	if err != nil {
		return err
	}
	url := e.Node.APIServerURL() + "/readyz"
	return e.Poll(ctx, "kube-apiserver", "ready", 300*time.Millisecond, func(ctx context.Context) error { return httpOK(ctx, client, url) })
}

// ControllerManager is kube-controller-manager.
type ControllerManager struct{}

// Name implements Component.
func (ControllerManager) Name() string { return "kube-controller-manager" }

// Undo implements Component.
func (ControllerManager) Undo(e *Env) []journal.Step {
	return []journal.Step{stopDaemonStep(e, "kube-controller-manager", 10*time.Second)}
}

// Start implements Component.
func (ControllerManager) Start(_ context.Context, e *Env) error {
	return e.StartDaemon("kube-controller-manager", filepath.Join(e.Bin, "kube-controller-manager"), nodecfg.ControllerManagerArgs(e.Node))
}

// Ready implements Component.
func (ControllerManager) Ready(ctx context.Context, e *Env) error {
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", e.Node.Ports.ControllerManager)
	return e.Poll(ctx, "kube-controller-manager", "healthy", 300*time.Millisecond, func(ctx context.Context) error { return httpOK(ctx, insecureClient, url) })
}

// Scheduler is kube-scheduler.
type Scheduler struct{}

// Name implements Component.
func (Scheduler) Name() string { return "kube-scheduler" }

// Undo implements Component.
func (Scheduler) Undo(e *Env) []journal.Step {
	return []journal.Step{stopDaemonStep(e, "kube-scheduler", 10*time.Second)}
}

// Start implements Component.
func (Scheduler) Start(_ context.Context, e *Env) error {
	return e.StartDaemon("kube-scheduler", filepath.Join(e.Bin, "kube-scheduler"), nodecfg.SchedulerArgs(e.Node))
}

// Ready implements Component.
func (Scheduler) Ready(ctx context.Context, e *Env) error {
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", e.Node.Ports.Scheduler)
	return e.Poll(ctx, "kube-scheduler", "healthy", 300*time.Millisecond, func(ctx context.Context) error { return httpOK(ctx, insecureClient, url) })
}
