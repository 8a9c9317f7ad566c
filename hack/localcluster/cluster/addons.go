package cluster

import (
	"context"
	"path/filepath"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/journal"
	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
	"virtmesh.io/virtmesh/internal/logtail"
)

// CoreDNS is cluster DNS, installed as kubeadm does (a Deployment in
// kube-system behind the kube-dns Service at the kubelet's clusterDNS).
type CoreDNS struct{}

// Name implements Component.
func (CoreDNS) Name() string { return "coredns" }

// Undo implements Component: CoreDNS is a pod (the kubelet's undo stops it).
func (CoreDNS) Undo(*Env) []journal.Step { return nil }

// Start implements Component.
func (CoreDNS) Start(ctx context.Context, e *Env) error {
	m := nodecfg.CoreDNSManifest(nodecfg.CoreDNS{Image: e.Images.CoreDNS, ClusterDNS: e.Node.Network.ClusterDNS, ClusterDomain: e.Node.Network.ClusterDomain})
	if err := WriteFile(e.Layout.Manifest("coredns.yaml"), m, 0o644); err != nil {
		return err
	}
	_, err := e.Kubectl(ctx, nil, "apply", "-f", e.Layout.Manifest("coredns.yaml"))
	return err
}

// Ready implements Component.
func (CoreDNS) Ready(ctx context.Context, e *Env) error {
	return rolloutStatus(ctx, e, "kube-system", "deployment/coredns")
}

func rolloutStatus(ctx context.Context, e *Env, ns, what string) error {
	timeout := "180s"
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d).Round(time.Second).String()
	}
	_, err := e.Kubectl(ctx, nil, "rollout", "status", "-n", ns, what, "--timeout="+timeout)
	if err != nil {
		out, _ := e.Kubectl(context.Background(), nil, "get", "pods", "-n", ns, "-o", "wide")
		ev, _ := e.Kubectl(context.Background(), nil, "get", "events", "-n", ns, "--sort-by=.lastTimestamp")
		return &withDetail{err: err, detail: out + "\n" + logtail.Last(ev, 15)}
	}
	return nil
}

type withDetail struct {
	err    error
	detail string
}

func (w *withDetail) Error() string { return w.err.Error() + "\n" + w.detail }
func (w *withDetail) Unwrap() error { return w.err }

// Operator installs VirtMesh in the cluster the way a user does: `kubectl
// apply -k` of a kustomization whose base is config/default, with the
// local images. Leader election is on (config/manager).
type Operator struct{}

// Name implements Component.
func (Operator) Name() string { return "operator" }

// OperatorNamespace and OperatorDeployment are config/default's names.
const (
	OperatorNamespace  = "virtmesh-system"
	OperatorDeployment = "virtmesh-controller-manager"
)

// Undo implements Component: the operator is a pod.
func (Operator) Undo(*Env) []journal.Step { return nil }

// Start implements Component.
func (Operator) Start(ctx context.Context, e *Env) error {
	dir := e.Layout.Manifest("operator")
	k, err := nodecfg.OperatorOverlay(dir, e.Repo, e.Images)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
		return err
	}
	// Server-side: the CRDs are too large for client-side apply's
	// last-applied annotation.
	_, err = e.Kubectl(ctx, nil, "apply", "--server-side", "--force-conflicts", "-k", dir)
	return err
}

// Ready implements Component.
func (Operator) Ready(ctx context.Context, e *Env) error {
	if _, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Established", "crd/virtualmachineinstances.virt.virtmesh.io", "crd/virtualmachines.virt.virtmesh.io", "crd/meshcontrolplanes.mesh.virtmesh.io", "--timeout=60s"); err != nil {
		return err
	}
	return rolloutStatus(ctx, e, OperatorNamespace, "deployment/"+OperatorDeployment)
}
