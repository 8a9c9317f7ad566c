package virt

import (
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/testenv"
)

var env *testenv.Env

const testLauncherImage = "quay.io/virtmesh/virt-launcher:test"

func TestMain(m *testing.M) {
	log.SetLogger(funcr.New(func(prefix, args string) {
		if os.Getenv("VIRT_TEST_LOG") != "" {
			fmt.Fprintln(os.Stderr, prefix, args)
		}
	}, funcr.Options{Verbosity: 1}))
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// countingReconciler counts reconciles, for the no-hot-loop checks.
type countingReconciler struct {
	inner reconcile.Reconciler
	n     atomic.Int64
}

func (c *countingReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	c.n.Add(1)
	return c.inner.Reconcile(ctx, req)
}

// startController starts a manager with the VMI controller, like main.go,
// and stops it when the test ends.
func startController(t *testing.T) *countingReconciler {
	t.Helper()
	vmi, _ := startControllers(t, false)
	return vmi
}

// startControllers starts the VMI controller and, with vms, the
// VirtualMachine controller in one manager, as main.go does.
func startControllers(t *testing.T, vms bool) (vmiCounter, vmCounter *countingReconciler) {
	t.Helper()
	mgr := newTestManager(t)
	r := &VirtualMachineInstanceReconciler{Client: mgr.GetClient(), Scheme: mgr.GetScheme(), LauncherImage: testLauncherImage}
	counter := &countingReconciler{inner: r}
	if err := r.setup(mgr, counter); err != nil {
		t.Fatal(err)
	}
	if vms {
		vr := &VirtualMachineReconciler{Client: mgr.GetClient()}
		vmCounter = &countingReconciler{inner: vr}
		if err := vr.setup(mgr, vmCounter); err != nil {
			t.Fatal(err)
		}
	}
	startManager(t, mgr)
	return counter, vmCounter
}

// newTestManager is a manager on the suite's API server with main.go's
// cache options (launcher pods only, trimmed).
func newTestManager(t *testing.T) manager.Manager {
	t.Helper()
	mgr, err := manager.New(env.Config, manager.Options{
		Scheme:     env.Scheme,
		Logger:     testenv.Logger(t, 1),
		Metrics:    server.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			&corev1.Pod{}: LauncherPodCache(),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}

// startManager runs mgr until the test ends.
func startManager(t *testing.T, mgr manager.Manager) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// newNamespace creates a fresh namespace for one test.
func newNamespace(t *testing.T, labels map[string]string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "vmi-test-", Labels: labels}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	testenv.Eventually(t, 20*time.Second, 100*time.Millisecond, what, f)
}

func getVMI(t *testing.T, ns, name string) *virtv1alpha1.VirtualMachineInstance {
	t.Helper()
	v := &virtv1alpha1.VirtualMachineInstance{}
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, v); err != nil {
		t.Fatal(err)
	}
	return v
}

// waitPhase waits for the VMI to reach phase.
func waitPhase(t *testing.T, ns, name string, phase virtv1alpha1.VirtualMachineInstancePhase) *virtv1alpha1.VirtualMachineInstance {
	t.Helper()
	var v *virtv1alpha1.VirtualMachineInstance
	eventually(t, "VMI "+name+" phase "+string(phase), func() error {
		v = getVMI(t, ns, name)
		if v.Status.Phase != phase {
			return fmt.Errorf("phase %q, conditions %+v", v.Status.Phase, v.Status.Conditions)
		}
		return nil
	})
	return v
}

func waitCondition(t *testing.T, ns, name, typ string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var c *metav1.Condition
	eventually(t, fmt.Sprintf("VMI %s condition %s=%s/%s", name, typ, status, reason), func() error {
		v := getVMI(t, ns, name)
		c = meta.FindStatusCondition(v.Status.Conditions, typ)
		if c == nil || c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("got %+v", c)
		}
		return nil
	})
	return c
}

// launcherPods lists the VMI's launcher pods from the API server.
func launcherPods(t *testing.T, ns, name string) []corev1.Pod {
	t.Helper()
	var list corev1.PodList
	if err := env.Client.List(context.Background(), &list, client.InNamespace(ns), client.MatchingLabels{virtv1alpha1.LabelVMI: name}); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func waitOnePod(t *testing.T, ns, name string) *corev1.Pod {
	t.Helper()
	var pod corev1.Pod
	eventually(t, "launcher pod of "+name, func() error {
		pods := launcherPods(t, ns, name)
		if len(pods) != 1 {
			return fmt.Errorf("%d launcher pods", len(pods))
		}
		pod = pods[0]
		return nil
	})
	return &pod
}

// kubelet drives a pod's status the way the scheduler and kubelet would.
type kubelet struct {
	t   *testing.T
	pod *corev1.Pod
}

func (k kubelet) bind(node string) {
	k.t.Helper()
	// The controller fails VMIs whose node was removed: bind to one that exists.
	if err := env.Client.Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node}}); err != nil && !apierrors.IsAlreadyExists(err) {
		k.t.Fatal(err)
	}
	b := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: k.pod.Name, Namespace: k.pod.Namespace}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	if err := env.Client.SubResource("binding").Create(context.Background(), k.pod, b); err != nil {
		k.t.Fatal(err)
	}
}

// setStatus rewrites the pod's status: phase, compute state, proxy
// readiness and the Ready condition.
func (k kubelet) setStatus(phase corev1.PodPhase, computeState corev1.ContainerState, ready bool) {
	k.t.Helper()
	ctx := context.Background()
	pod := &corev1.Pod{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(k.pod), pod); err != nil {
		k.t.Fatal(err)
	}
	now := metav1.Now()
	cond := func(t corev1.PodConditionType, ok bool) corev1.PodCondition {
		s := corev1.ConditionFalse
		if ok {
			s = corev1.ConditionTrue
		}
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: now}
	}
	pod.Status.Phase = phase
	pod.Status.HostIP = "192.168.0.10"
	pod.Status.HostIPs = []corev1.HostIP{{IP: "192.168.0.10"}}
	pod.Status.PodIP = "10.244.1.7"
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.244.1.7"}}
	pod.Status.Conditions = []corev1.PodCondition{cond(corev1.PodScheduled, true), cond(corev1.PodReady, ready), cond(corev1.ContainersReady, ready)}
	pod.Status.InitContainerStatuses = nil
	for _, c := range pod.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image}
		if c.RestartPolicy != nil {
			cs.Ready = ready
			cs.Started = ptr.To(true)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}
		}
		pod.Status.InitContainerStatuses = append(pod.Status.InitContainerStatuses, cs)
	}
	pod.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}}
		if c.Name == "compute" {
			cs.State = computeState
		}
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, cs)
	}
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		k.t.Fatal(err)
	}
}

// assertSettles fails unless the reconcile count stops moving: a quiet
// window of settleWindow must come within 20 s. It waits for the window
// rather than sampling right after the test's last action, because the
// reconcile that the last status patch triggers can be late on a loaded
// machine (CI runs the QEMU suites beside this one); a hot loop, or a
// requeue shorter than the window, never gives a quiet window.
func assertSettles(t *testing.T, c *countingReconciler) {
	t.Helper()
	const settleWindow = 3 * time.Second
	deadline := time.Now().Add(20 * time.Second)
	prev := c.n.Load()
	for time.Now().Before(deadline) {
		time.Sleep(settleWindow)
		cur := c.n.Load()
		if cur == prev {
			return
		}
		prev = cur
	}
	t.Errorf("hot loop: reconciles kept coming for 20s after the VMI settled (%d so far)", prev)
}
