package istio

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// kubeWatch records, per IP, when Kubernetes said the endpoint is going:
// its pod got a deletionTimestamp (istiod watches pods) and it stopped being
// a ready endpoint of details' EndpointSlices. istiod reacts to the first.
type kubeWatch struct {
	mu                      sync.Mutex
	podTerminating, sliceAt map[string]time.Time
}

func watchKube(ctx context.Context, t *testing.T, ips ...string) *kubeWatch {
	t.Helper()
	k := &kubeWatch{podTerminating: map[string]time.Time{}, sliceAt: map[string]time.Time{}}
	slices, err := cs.DiscoveryV1().EndpointSlices(appNS).Watch(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=details"})
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods(appNS).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer slices.Stop()
		for ev := range slices.ResultChan() {
			at := time.Now()
			es, ok := ev.Object.(*discoveryv1.EndpointSlice)
			if !ok {
				continue
			}
			ready := map[string]bool{}
			if ev.Type != watch.Deleted {
				for _, ep := range es.Endpoints {
					for _, a := range ep.Addresses {
						ready[a] = ep.Conditions.Ready == nil || *ep.Conditions.Ready
					}
				}
			}
			k.record(k.sliceAt, ips, at, func(ip string) bool { return !ready[ip] })
		}
	}()
	go func() {
		defer pods.Stop()
		for ev := range pods.ResultChan() {
			at := time.Now()
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || (ev.Type != watch.Deleted && p.DeletionTimestamp == nil) {
				continue
			}
			k.record(k.podTerminating, ips, at, func(ip string) bool { return p.Status.PodIP == ip })
		}
	}()
	return k
}

func (k *kubeWatch) record(m map[string]time.Time, ips []string, at time.Time, gone func(string) bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ip := range ips {
		if _, seen := m[ip]; !seen && gone(ip) {
			m[ip] = at
		}
	}
}

// signal is the first time Kubernetes said ip is going (zero if not yet).
func (k *kubeWatch) signal(ip string) time.Time {
	k.mu.Lock()
	defer k.mu.Unlock()
	a, b := k.podTerminating[ip], k.sliceAt[ip]
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// removal is when an endpoint left the cluster's EDS and the events before.
type removal struct {
	deleted, signal, unhealthy, gone time.Time
}

// push is istiod's part: from Kubernetes' first signal to the EDS push
// that no longer offers the endpoint as healthy.
func (r removal) push() time.Duration { return r.unhealthy.Sub(r.signal) }

func (r removal) String() string {
	return fmt.Sprintf("delete→first Kubernetes signal %s, signal→EDS push without it healthy %s (istiod), delete→EDS without it %s",
		r.signal.Sub(r.deleted).Round(time.Millisecond), r.push().Round(time.Millisecond), r.gone.Sub(r.deleted).Round(time.Millisecond))
}

// awaitRemoval follows the client's EDS for details until ip is gone.
func (s *suite) awaitRemoval(t *testing.T, ip string, deleted time.Time, kube *kubeWatch) removal {
	t.Helper()
	r := removal{deleted: deleted}
	s.clientADS.await(t, typeEndpoint, 30*time.Second, func(resp response) error {
		eps := edsEndpoints(t, resp, detailsCluster)
		if eps == nil {
			return fmt.Errorf("EDS push without %s", detailsCluster)
		}
		ep, present := eps[ip]
		if r.unhealthy.IsZero() && (!present || ep.health != corev3.HealthStatus_HEALTHY) {
			r.unhealthy = resp.at
		}
		if present {
			return fmt.Errorf("%s still in EDS (%v)", ip, ep.health)
		}
		r.gone = resp.at
		return nil
	})
	r.signal = kube.signal(ip)
	if r.signal.IsZero() {
		t.Fatalf("the pod and EndpointSlice watches never saw %s go", ip)
	}
	return r
}

func (s *suite) endpointRemoval(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	vmIP, podIP := s.vmPod.Status.PodIP, s.podPod.Status.PodIP
	s.clientADS.subscribe(t, typeEndpoint, detailsCluster)
	s.clientADS.await(t, typeEndpoint, 30*time.Second, func(r response) error {
		if eps := edsEndpoints(t, r, detailsCluster); len(eps) != 2 {
			return fmt.Errorf("EDS %s: %v, want the VM and the pod", detailsCluster, eps)
		}
		return nil
	})
	kube := watchKube(ctx, t, vmIP, podIP)

	vmi := &virtv1alpha1.VirtualMachineInstance{}
	vmi.Namespace, vmi.Name = appNS, "details-v1"
	deleted := time.Now()
	if err := k8s.Delete(ctx, vmi); err != nil {
		t.Fatal(err)
	}
	vm := s.awaitRemoval(t, vmIP, deleted, kube)
	measure(t, "VM endpoint removal: %s", vm)
	if d := vm.gone.Sub(vm.deleted); d > 10*time.Second {
		t.Errorf("the VM left details' EDS %s after its VMI was deleted; want a few seconds", d)
	}

	pod := s.podPod.DeepCopy()
	deleted = time.Now()
	if err := k8s.Delete(ctx, pod, client.GracePeriodSeconds(5)); err != nil {
		t.Fatal(err)
	}
	p := s.awaitRemoval(t, podIP, deleted, kube)
	measure(t, "pod endpoint removal: %s", p)
	measure(t, "istiod push latency (first Kubernetes signal → EDS): VM %s, pod %s",
		vm.push().Round(time.Millisecond), p.push().Round(time.Millisecond))
}
