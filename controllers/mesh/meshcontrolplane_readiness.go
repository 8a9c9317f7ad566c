package mesh

import (
	"bytes"
	"context"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	cp "virtmesh.io/virtmesh/internal/render/controlplane"
)

// rootCertPollInterval is how often a MeshControlPlane waiting for istiod's
// root certificate in its members looks again.
const rootCertPollInterval = 5 * time.Second

// readiness reads the Deployment of every enabled component. istiod's
// Deployment is available once its pods pass their readiness probe, GET
// :8080/ready, which istiod answers 200 only after it could list and watch
// everything it needs and its xDS, CA and webhook servers listen.
func (r *MeshControlPlaneReconciler) readiness(ctx context.Context, v cp.Values, nothingApplied bool) (meshv1alpha1.ComponentReadiness, error) {
	var out meshv1alpha1.ComponentReadiness
	for _, c := range cp.Components(v) {
		if nothingApplied {
			out.Pending = append(out.Pending, c.Name)
			continue
		}
		d := &appsv1.Deployment{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: c.DeploymentName}, d)
		switch {
		case apierrors.IsNotFound(err):
			out.Pending = append(out.Pending, c.Name)
		case err != nil:
			return out, fmt.Errorf("get Deployment %s: %w", c.DeploymentName, err)
		case deploymentReady(d):
			out.Ready = append(out.Ready, c.Name)
		default:
			out.Unready = append(out.Unready, c.Name)
		}
	}
	return out, nil
}

// rootCertObservation is what istiod has published of its CA: the members
// whose istio-ca-root-cert is missing or holds another CA's root. Proxies
// mount that ConfigMap; without it (or with another mesh's root) they cannot
// verify istiod.
type rootCertObservation struct {
	// noCA names the Secrets looked for when istiod has created no CA yet.
	noCA string
	// missing and foreign are member namespaces.
	missing []string
	foreign []string
	// ca is where the root was read from, e.g. istio-system/istio-ca-secret.
	ca string
}

func (o rootCertObservation) waiting() bool {
	return o.noCA != "" || len(o.missing) > 0 || len(o.foreign) > 0
}

// observeRootCerts checks that istiod has its CA (the plug-in Secret cacerts,
// or the Secret istio-ca-secret istiod creates when it first starts) and that
// every member namespace has its root certificate: ConfigMap
// istio-ca-root-cert holding that CA's root, so a member does not count when
// another istiod wrote it.
func (r *MeshControlPlaneReconciler) observeRootCerts(ctx context.Context, v cp.Values, members []string) (rootCertObservation, error) {
	var obs rootCertObservation
	root, where, err := r.caRoot(ctx, v.Namespace)
	if err != nil {
		return obs, err
	}
	if root == nil {
		obs.noCA = fmt.Sprintf("no Secret %s (istiod's own CA) or %s (a plug-in CA) in %s", cp.SelfSignedCASecret, cp.CACertsSecret, v.Namespace)
		return obs, nil
	}
	obs.ca = where
	if len(members) == 0 {
		return obs, nil
	}
	list := &corev1.ConfigMapList{}
	if err := r.APIReader.List(ctx, list, client.MatchingFields{"metadata.name": cp.RootCertConfigMap}); err != nil {
		return obs, fmt.Errorf("list %s ConfigMaps: %w", cp.RootCertConfigMap, err)
	}
	published := map[string]string{}
	for _, cm := range list.Items {
		published[cm.Namespace] = cm.Data[cp.RootCertKey]
	}
	for _, ns := range members {
		pemData, ok := published[ns]
		switch {
		case !ok:
			obs.missing = append(obs.missing, ns)
		case !containsCert([]byte(pemData), root):
			obs.foreign = append(obs.foreign, ns)
		}
	}
	return obs, nil
}

// caRoot returns the DER of the CA's root certificate and where it was read,
// or nil when istiod has not created its CA (and no plug-in CA is given).
func (r *MeshControlPlaneReconciler) caRoot(ctx context.Context, ns string) ([]byte, string, error) {
	for _, src := range []struct{ secret, key string }{{cp.CACertsSecret, "root-cert.pem"}, {cp.SelfSignedCASecret, "ca-cert.pem"}} {
		s := &corev1.Secret{}
		err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.secret}, s)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, "", fmt.Errorf("get Secret %s/%s: %w", ns, src.secret, err)
		}
		block, _ := pem.Decode(s.Data[src.key])
		if block == nil {
			return nil, "", fmt.Errorf("secret %s/%s has no PEM certificate in %s", ns, src.secret, src.key)
		}
		return block.Bytes, ns + "/" + src.secret, nil
	}
	return nil, "", nil
}

// containsCert reports whether the PEM bundle holds the certificate der
// (istiod's root-cert.pem holds several roots while one is rotated).
func containsCert(bundle, der []byte) bool {
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return false
		}
		if bytes.Equal(block.Bytes, der) {
			return true
		}
	}
}

// rootCertMessage says what is missing, in the user's terms; "" when nothing.
func rootCertMessage(o rootCertObservation) string {
	var parts []string
	if o.noCA != "" {
		parts = append(parts, "istiod has not created its CA yet: "+o.noCA)
	}
	if len(o.missing) > 0 {
		parts = append(parts, fmt.Sprintf("istiod has not published its root certificate (ConfigMap %s) in member namespaces: %s",
			cp.RootCertConfigMap, strings.Join(o.missing, ", ")))
	}
	if len(o.foreign) > 0 {
		parts = append(parts, fmt.Sprintf("ConfigMap %s in member namespaces %s holds another CA's root, not this control plane's (%s): is another istiod writing it?",
			cp.RootCertConfigMap, strings.Join(o.foreign, ", "), o.ca))
	}
	return strings.Join(parts, "; ")
}
