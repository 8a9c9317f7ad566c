// Command host-istiod runs the real istiod of a MeshControlPlane on this host
// for a kwok cluster (hack/local-cluster.sh starts it): it waits for a
// Running pod of the istiod Deployment, runs bin/pilot-discovery for it with
// the pod's rendered args, env and ServiceAccount (internal/hostistiod) and
// writes istiod's readiness (GET /ready) into the pod's status, so the
// MeshControlPlane is Ready only when this istiod is. When the pod is
// replaced (a new ReplicaSet), istiod is restarted for the new pod.
//
//	host-istiod --kubeconfig <admin> --namespace istio-system --deployment istiod \
//	  --pilot-discovery bin/pilot-discovery --dir <state>/istiod
//
// It writes <dir>/ports (one "name=127.0.0.1:port" per line) so that
// istiod's debug endpoints can be reached, and istiod's log to stdout.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"virtmesh.io/virtmesh/internal/hostistiod"
	"virtmesh.io/virtmesh/internal/hostpod"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of a cluster admin (the kubelet's part: tokens and pod status)")
	namespace := flag.String("namespace", "istio-system", "namespace of the MeshControlPlane")
	deployment := flag.String("deployment", "istiod", "istiod's Deployment (istiod-<revision> for a revision)")
	binary := flag.String("pilot-discovery", "bin/pilot-discovery", "pilot-discovery binary")
	dir := flag.String("dir", "", "working directory (required)")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "host-istiod: --dir is required")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *kubeconfig, *namespace, *deployment, *binary, *dir)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "host-istiod:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, kubeconfig, ns, deployment, binary, dir string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, "host-istiod: "+format+"\n", args...)
	}
	for ctx.Err() == nil {
		pod, err := waitForPod(ctx, cs, ns, deployment)
		if err != nil {
			return err
		}
		if pod == nil {
			return nil
		}
		logf("running istiod for pod %s/%s", pod.Namespace, pod.Name)
		podDir := filepath.Join(dir, pod.Name)
		i, err := hostistiod.Start(ctx, hostistiod.Options{Client: cs, Config: cfg, Binary: binary, Dir: podDir, Pod: pod, Log: os.Stdout})
		if err != nil {
			logf("cannot start istiod for pod %s: %v; retrying", pod.Name, err)
			sleep(ctx, 5*time.Second)
			continue
		}
		p := i.Ports
		ports := fmt.Sprintf("pod=%s\nhttp=%s\ngrpc=%s\nsecureGRPC=%s\nmonitoring=%s\nwebhook=%s\n",
			pod.Name, hostistiod.Addr(p.HTTP), hostistiod.Addr(p.GRPC), hostistiod.Addr(p.SecureGRPC), hostistiod.Addr(p.Monitoring), hostistiod.Addr(p.Webhook))
		if err := os.WriteFile(filepath.Join(dir, "ports"), []byte(ports), 0o644); err != nil {
			return err
		}
		logf("istiod pid %d, ports:\n%s", i.PID(), strings.TrimSpace(ports))
		podCtx, cancel := context.WithCancel(ctx)
		go watchReplaced(podCtx, cs, pod, cancel)
		err = i.MirrorReadiness(podCtx, cs, func(ready bool, at time.Time) {
			logf("istiod ready=%v at %s; written to pod %s", ready, at.Format(time.RFC3339Nano), pod.Name)
		})
		cancel()
		if err != nil {
			logf("%v", err)
		}
		// Not running any more, so not ready (what the kubelet's probe
		// would find); best effort, the pod may be gone.
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = hostpod.SetReady(sctx, cs, pod, hostistiod.Container, false, "istiod stopped")
		scancel()
		select {
		case <-i.Done():
			logf("istiod exited; starting again")
		default:
		}
		_ = i.Stop(15 * time.Second)
	}
	return nil
}

// waitForPod returns the newest Running pod (with an IP) of the Deployment,
// or nil when ctx ends first.
func waitForPod(ctx context.Context, cs kubernetes.Interface, ns, deployment string) (*corev1.Pod, error) {
	for {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("list pods in %s: %w", ns, err)
		}
		var candidates []corev1.Pod
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.Status.PodIP != "" && p.DeletionTimestamp == nil && ownedBy(&p, deployment) {
				candidates = append(candidates, p)
			}
		}
		if len(candidates) > 0 {
			sort.Slice(candidates, func(a, b int) bool {
				return candidates[a].CreationTimestamp.After(candidates[b].CreationTimestamp.Time)
			})
			return &candidates[0], nil
		}
		if !sleep(ctx, 2*time.Second) {
			return nil, nil
		}
	}
}

// ownedBy: the pod's ReplicaSet is <deployment>-<hash>.
func ownedBy(p *corev1.Pod, deployment string) bool {
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.Kind != "ReplicaSet" {
		return false
	}
	i := strings.LastIndex(ref.Name, "-")
	return i > 0 && ref.Name[:i] == deployment
}

// watchReplaced cancels when the pod is deleted or a newer pod of the same
// Deployment runs.
func watchReplaced(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, cancel func()) {
	deployment := metav1.GetControllerOf(pod).Name
	deployment = deployment[:strings.LastIndex(deployment, "-")]
	for sleep(ctx, 3*time.Second) {
		cur, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || cur.DeletionTimestamp != nil {
			cancel()
			return
		}
		newest, err := waitForPod(ctx, cs, pod.Namespace, deployment)
		if err == nil && newest != nil && newest.Name != pod.Name {
			cancel()
			return
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
