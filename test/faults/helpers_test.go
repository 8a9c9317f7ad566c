package faults

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/controllers/virt"
	"virtmesh.io/virtmesh/internal/testing/kwokcluster"
	vb "virtmesh.io/virtmesh/internal/testing/vmibuilder"
)

func uniqueName(prefix string) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// newNamespace creates a namespace that is deleted (without waiting) when
// the test ends.
func newNamespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := uniqueName(prefix)
	if err := cluster.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cluster.Client.Delete(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})
	})
	return ns
}

func vmiNames(prefix string, from, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, from+i)
	}
	return out
}

// createVMIs creates the VMIs with a few concurrent calls, every per
// second if pace > 0. A failed create is retried until ctx ends (the API
// server may be down); AlreadyExists after a retry means the first attempt
// landed.
func createVMIs(ctx context.Context, mk func(name string) *virtv1alpha1.VirtualMachineInstance, names []string, pace float64) error {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	sem := make(chan struct{}, 16)
	start := time.Now()
	for i, name := range names {
		if pace > 0 {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i) / pace * float64(time.Second)))))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			for attempt := 0; ; attempt++ {
				err := cluster.Client.Create(ctx, mk(name))
				if err == nil || (attempt > 0 && apierrors.IsAlreadyExists(err)) {
					return
				}
				if ctx.Err() != nil || apierrors.IsInvalid(err) {
					mu.Lock()
					errs = append(errs, fmt.Errorf("create %s: %w", name, err))
					mu.Unlock()
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func plainVMI(ns string) func(string) *virtv1alpha1.VirtualMachineInstance {
	return func(name string) *virtv1alpha1.VirtualMachineInstance {
		return vb.MakeVMI(name).Namespace(ns).Label("app", "faults").GracePeriod(0).Obj()
	}
}

// waitVMIs polls the VMIs of ns until there are n and ok accepts each.
func waitVMIs(t *testing.T, ns string, n int, timeout time.Duration, what string, ok func(*virtv1alpha1.VirtualMachineInstance) error) {
	t.Helper()
	start := time.Now()
	var last error
	for {
		last = checkVMIs(ns, n, ok)
		if last == nil {
			t.Logf("%s: %s", what, time.Since(start).Round(100*time.Millisecond))
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("after %s: %s: %v", timeout, what, last)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func checkVMIs(ns string, n int, ok func(*virtv1alpha1.VirtualMachineInstance) error) error {
	var list virtv1alpha1.VirtualMachineInstanceList
	if err := cluster.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return err
	}
	if len(list.Items) != n {
		return fmt.Errorf("%d VMIs, want %d", len(list.Items), n)
	}
	var bad []string
	for i := range list.Items {
		if err := ok(&list.Items[i]); err != nil {
			bad = append(bad, fmt.Sprintf("%s: %v", list.Items[i].Name, err))
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("%d of %d not yet, e.g. %s", len(bad), n, bad[0])
	}
	return nil
}

func running(v *virtv1alpha1.VirtualMachineInstance) error {
	if v.Status.Phase != virtv1alpha1.Running {
		return fmt.Errorf("phase %q", v.Status.Phase)
	}
	return nil
}

// assertOnePodEach checks that every VMI of ns has exactly one launcher pod,
// the one its status names and it controls, and that no pod is left
// without its VMI.
func assertOnePodEach(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	var vmis virtv1alpha1.VirtualMachineInstanceList
	if err := cluster.Client.List(ctx, &vmis, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var pods corev1.PodList
	if err := cluster.Client.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	byUID := map[string][]string{}
	for _, p := range pods.Items {
		ref := metav1.GetControllerOf(&p)
		if ref == nil {
			t.Errorf("pod %s has no controller", p.Name)
			continue
		}
		byUID[string(ref.UID)] = append(byUID[string(ref.UID)], p.Name)
	}
	for _, v := range vmis.Items {
		got := byUID[string(v.UID)]
		delete(byUID, string(v.UID))
		if len(got) != 1 || got[0] != v.Status.LauncherPod {
			t.Errorf("VMI %s: launcher pods %v, status.launcherPod %q; want exactly that one", v.Name, got, v.Status.LauncherPod)
		}
	}
	for uid, names := range byUID {
		t.Errorf("orphan launcher pods %v (controller %s has no VMI)", names, uid)
	}
	t.Logf("%d VMIs, %d launcher pods, one each", len(vmis.Items), len(pods.Items))
}

// waitLauncherPods polls ns every 10 ms until it holds at least n launcher
// pods, and returns how many it found: the fault tests strike the moment the
// operator has made some.
func waitLauncherPods(t *testing.T, ns string, n int, timeout time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var pods corev1.PodList
		if err := cluster.Client.List(context.Background(), &pods, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(pods.Items) >= n {
			return len(pods.Items)
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d launcher pods after %s, want %d", len(pods.Items), timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// restartOperatorAfter starts the operator again when t ends with it
// killed, so a failed test does not leave the next ones without one.
func restartOperatorAfter(t *testing.T) {
	t.Cleanup(func() {
		if operator.PID() == 0 {
			if err := operator.Start(context.Background()); err != nil {
				t.Errorf("restart the operator: %v", err)
			}
		}
	})
}

// reconciles is the operator replica's VMI reconcile count.
func reconciles(t *testing.T, op *kwokcluster.Operator) float64 {
	t.Helper()
	m, err := op.Scrape(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return m.Sum("controller_runtime_reconcile_total", map[string]string{"controller": virt.ControllerName})
}

// settle waits until the replica's VMI reconcile count stands still for
// quiet, and returns it.
func settle(t *testing.T, op *kwokcluster.Operator, quiet, timeout time.Duration) float64 {
	t.Helper()
	start := time.Now()
	prev, last := reconciles(t, op), time.Now()
	for time.Since(last) < quiet {
		if time.Since(start) > timeout {
			t.Fatalf("the operator keeps reconciling: still moving after %s", timeout)
		}
		time.Sleep(250 * time.Millisecond)
		if cur := reconciles(t, op); cur != prev {
			prev, last = cur, time.Now()
		}
	}
	return prev
}

// isLeader reports whether the replica holds the lease (controller-runtime's
// leader_election_master_status).
func isLeader(op *kwokcluster.Operator) bool {
	m, err := op.Scrape(context.Background())
	return err == nil && m.Sum("leader_election_master_status", nil) == 1
}

func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := cluster.Kubectl(context.Background(), args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}
