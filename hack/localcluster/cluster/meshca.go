package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"virtmesh.io/virtmesh/hack/localcluster/pki"
)

// Names of what istiod publishes into member namespaces.
const (
	RootCertConfigMap = "istio-ca-root-cert"
	RootCertKey       = "root-cert.pem"
	// memberLabel is the label the operator puts on member namespaces.
	memberLabel = "mesh.virtmesh.io/member-of"
	// StandInAnnotation marks what the local cluster publishes in istiod's
	// place.
	StandInAnnotation = "virtmesh.io/stand-in"
)

// ServeMeshCA publishes a root certificate (made once, kept in dir) as
// ConfigMap istio-ca-root-cert into every namespace the operator made a
// mesh member, every 2 s, until ctx ends. It stands in for istiod's
// namespace controller on the real node, where istiod does not run.
func ServeMeshCA(ctx context.Context, kubeconfig, dir string) error {
	root, err := loadOrMakeRoot(dir)
	if err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "mesh-ca-standin: publishing %s into namespaces labelled %s (STAND-IN for istiod's root certificate publisher)\n", RootCertConfigMap, memberLabel)
	published := map[string]bool{}
	for {
		if err := publishRoot(ctx, cs, string(root), published); err != nil && ctx.Err() == nil {
			fmt.Fprintln(os.Stderr, "mesh-ca-standin:", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

func loadOrMakeRoot(dir string) ([]byte, error) {
	path := filepath.Join(dir, RootCertKey)
	if b, err := os.ReadFile(path); err == nil {
		return b, nil
	}
	ca, err := pki.NewCA("virtmesh-local mesh root (stand-in for istiod's CA)")
	if err != nil {
		return nil, err
	}
	if err := WriteFile(filepath.Join(dir, "root-key.pem"), ca.KeyPEM, 0o600); err != nil {
		return nil, err
	}
	return ca.CertPEM, WriteFile(path, ca.CertPEM, 0o644)
}

func publishRoot(ctx context.Context, cs kubernetes.Interface, root string, published map[string]bool) error {
	nss, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{LabelSelector: memberLabel})
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp != nil {
			continue
		}
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Name: RootCertConfigMap, Namespace: ns.Name,
				Labels:      map[string]string{"istio.io/config": "true"},
				Annotations: map[string]string{StandInAnnotation: "istiod's root certificate publisher (hack/localcluster serve-mesh-ca)"},
			},
			Data: map[string]string{RootCertKey: root},
		}
		_, err := cs.CoreV1().ConfigMaps(ns.Name).Create(ctx, cm, metav1.CreateOptions{})
		switch {
		case err == nil:
			fmt.Fprintf(os.Stderr, "mesh-ca-standin: published %s/%s\n", ns.Name, RootCertConfigMap)
			published[ns.Name] = true
		case apierrors.IsAlreadyExists(err):
			published[ns.Name] = true
		default:
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
