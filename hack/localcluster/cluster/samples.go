package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"virtmesh.io/virtmesh/hack/localcluster/nodecfg"
	"virtmesh.io/virtmesh/internal/logtail"
)

// applyOverlay builds a kustomization of the work directory (whose
// resources are the repository's samples, outside its root) and applies it.
func applyOverlay(ctx context.Context, e *Env, dir string) error {
	yaml, err := e.Run(ctx, nil, filepath.Join(e.Bin, "kustomize"), "build", "--load-restrictor", "LoadRestrictionsNone", dir)
	if err != nil {
		return err
	}
	_, err = e.Kubectl(ctx, []byte(yaml), "apply", "-f", "-")
	return err
}

func waitTimeout(cfg Config) string {
	if cfg.WaitTimeout <= 0 {
		return "300s"
	}
	return cfg.WaitTimeout.String()
}

// realSamples applies the README's samples on the real node: the mesh
// (config/samples' MeshControlPlane with the local istiod image and without
// the gateway and addons, whose images are not here) until it is Ready,
// then namespace bookinfo (the operator makes it a member), then the
// details VM (config/samples, with the local test guest as its
// containerDisk) and the productpage stand-in; it waits until the guest
// serves and asks it, through the Services, as a user would with curl.
func realSamples(ctx context.Context, e *Env, cfg Config) error {
	to := waitTimeout(cfg)
	if err := e.step("samples: mesh (config/samples' MeshControlPlane basic: istiod from bin/pilot-discovery, proxy stand-in, gateway and addons off) until Ready", func() error {
		if err := applySampleOverlay(ctx, e, "mesh", nodecfg.MeshSampleOverlay); err != nil {
			return err
		}
		// Ready once the kubelet's probe finds the real istiod ready and
		// istiod has made its CA (docs/istio.md); the members' root
		// certificates follow when bookinfo joins.
		if _, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "mcp/basic", "-n", "istio-system", "--timeout="+to); err != nil {
			desc, _ := e.Kubectl(context.Background(), nil, "describe", "mcp/basic,pods", "-n", "istio-system")
			return fmt.Errorf("%w\n%s", err, logtail.Last(desc, 60))
		}
		return nil
	}); err != nil {
		return err
	}
	if err := e.step("samples: namespace bookinfo, a member of mcp/basic, with istiod's root certificate", func() error {
		if _, err := e.Kubectl(ctx, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: bookinfo\n"), "apply", "-f", "-"); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, nil, "wait", `--for=jsonpath={.metadata.labels.mesh\.virtmesh\.io/member-of}=istio-system.basic`, "namespace/bookinfo", "--timeout="+to); err != nil {
			return err
		}
		_, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "mcp/basic", "-n", "istio-system", "--timeout="+to)
		return err
	}); err != nil {
		return err
	}
	if err := e.step("samples: details VM (test guest, boots under "+accelWord()+") and productpage stand-in, until the guest serves", func() error {
		if err := applySampleOverlay(ctx, e, "bookinfo", nodecfg.BookinfoSampleOverlay); err != nil {
			return err
		}
		if _, err := e.Kubectl(ctx, nil, "wait", "--for=condition=Ready", "virtualmachines.virt.virtmesh.io/details-v1", "-n", "bookinfo", "--timeout="+to); err != nil {
			desc, _ := e.Kubectl(context.Background(), nil, "describe", "mvm,mvmi,pods", "-n", "bookinfo")
			return fmt.Errorf("%w\n%s", err, logtail.Last(desc, 60))
		}
		return rolloutStatus(ctx, e, "bookinfo", "deployment/productpage-v1")
	}); err != nil {
		return err
	}
	var answer string
	if err := e.step("samples: GET productpage -> details Service -> the guest", func() error {
		ip, err := e.Kubectl(ctx, nil, "get", "svc", "productpage", "-n", "bookinfo", "-o", "jsonpath={.spec.clusterIP}")
		if err != nil {
			return err
		}
		answer, err = getWithRetry(ctx, "http://"+strings.TrimSpace(ip)+":9080/", 60*time.Second)
		return err
	}); err != nil {
		return err
	}
	printRealSummary(ctx, e, answer)
	return nil
}

func accelWord() string {
	return "KVM or TCG, whichever the launcher finds usable"
}

// directClient opens a new connection for every request, never through a
// proxy: a ClusterIP asked before kube-proxy has its rule is routed out of
// the host like any address, and a kept-alive connection to whatever
// answered there would never meet the Service's rule.
var directClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// getWithRetry GETs url until it answers 200 or timeout passes.
func getWithRetry(ctx context.Context, url string, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		req, _ := http.NewRequestWithContext(rctx, http.MethodGet, url, http.NoBody)
		resp, err := directClient.Do(req)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return string(b), nil
			}
			err = fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
		}
		cancel()
		last = err
		if time.Now().After(deadline) {
			return "", fmt.Errorf("GET %s: %w", url, last)
		}
		time.Sleep(time.Second)
	}
}

func printRealSummary(ctx context.Context, e *Env, answer string) {
	out := e.Out
	nodes, _ := e.Kubectl(ctx, nil, "get", "nodes", "-o", "wide")
	objs, _ := e.Kubectl(ctx, nil, "get", "mvm,mvmi,pods,svc", "-n", "bookinfo", "-o", "wide")
	var a struct {
		AnsweredBy string          `json:"answeredBy"`
		Details    json.RawMessage `json:"details"`
		Body       string          `json:"body"`
	}
	_ = json.Unmarshal([]byte(answer), &a)
	details, _ := e.Kubectl(ctx, nil, "get", "svc", "details", "-n", "bookinfo", "-o", "jsonpath={.spec.clusterIP}")
	pp, _ := e.Kubectl(ctx, nil, "get", "svc", "productpage", "-n", "bookinfo", "-o", "jsonpath={.spec.clusterIP}")
	fmt.Fprintf(out, `
%s
%s
productpage (stand-in) asked details:9080/details/0 and %s answered:
  %s

VirtMesh runs on a real node: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, containerd (runc), the kubelet, kube-proxy and CoreDNS are
real, and so are the operator (in its own pod, with its own RBAC, leader
election on), istiod (Istio's pilot-discovery in the pod of the Deployment
mcp/basic renders, with its RBAC) and every container of the launcher pod:
net-setup, the disk helpers, compute with QEMU and the guest. Stand-ins,
because their real images cannot be had on this machine: the mesh proxy
(proxy-standin, not Envoy: it forwards captured connections and logs each
one) and productpage; the gateway and the addons do not run
(docs/local-cluster.md).

  export KUBECONFIG=%s
  curl http://%s:9080/details/0          # the guest, through the details Service
  curl http://%s:9080/                   # productpage -> details -> the guest
  kubectl logs -n bookinfo -l virt.virtmesh.io/vmi=details-v1 -c compute        # the guest's serial console
  kubectl logs -n bookinfo -l virt.virtmesh.io/vmi=details-v1 -c istio-proxy    # each proxied connection
  kubectl exec -n bookinfo deploy/productpage-v1 -- /productpage-standin get http://details.bookinfo.svc.cluster.local:9080/details/0
  kubectl get mvm,mvmi,pods -A
  kubectl get mcp -n istio-system; kubectl logs -n istio-system deploy/istiod   # the real istiod

Logs: %s    Stop everything: make stop-local
`, strings.TrimSpace(nodes), strings.TrimSpace(objs), or(a.AnsweredBy, "?"), strings.TrimSpace(or(string(a.Details), a.Body)),
		e.Layout.Kubeconfig(), strings.TrimSpace(details), strings.TrimSpace(pp), e.Layout.Path("logs"))
}

// applySampleOverlay writes the kustomization that render makes for the
// real node's images into the work directory's manifests/<name> and
// applies it.
func applySampleOverlay(ctx context.Context, e *Env, name string, render func(dir, repo string, images nodecfg.Images) ([]byte, error)) error {
	dir := e.Layout.Manifest(name)
	k, err := render(dir, e.Repo, e.Images)
	if err != nil {
		return err
	}
	if err := WriteFile(filepath.Join(dir, "kustomization.yaml"), k, 0o644); err != nil {
		return err
	}
	return applyOverlay(ctx, e, dir)
}
