package virt

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// createdPods remembers, per VMI, the launcher pod this process created or
// adopted until a status patch naming it has landed. Until then the status
// does not say a pod was created; if that patch is lost and the pod is
// deleted before the next reconcile, memory still says it was, so the VMI
// fails as PodLost instead of getting a second run under the same
// UID-derived name. (Across an operator restart memory is gone; the pod's
// finalizer keeps it until a status names it: releasable.)
type createdPods struct {
	mu sync.Mutex
	m  map[types.NamespacedName]createdPod
}

type createdPod struct {
	uid types.UID
	pod string
}

func (c *createdPods) add(vmi *virtv1alpha1.VirtualMachineInstance, pod string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[types.NamespacedName]createdPod{}
	}
	c.m[types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name}] = createdPod{uid: vmi.UID, pod: pod}
}

// get returns the pod created for this VMI (same UID), "" if none.
func (c *createdPods) get(vmi *virtv1alpha1.VirtualMachineInstance) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.m[types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name}]; ok && p.uid == vmi.UID {
		return p.pod
	}
	return ""
}

func (c *createdPods) forget(key types.NamespacedName) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

// coalesceWindow is how long a status whose only news is the launcher pod's
// progress (created: Scheduling; bound: Scheduled) waits before it is
// written on its own. A launcher pod usually runs moments after it is
// created (at once on kwok; after the image pulls on a real node), so the
// status goes Pending -> Running in one patch and a VMI costs two writes on
// the way to Running: the pod create and that patch. A pod still pending (or
// bound but not running) after the window gets its Scheduling (Scheduled)
// patch then, so `kubectl get vmi` lags the pod by at most this much. It is
// safe to hold back the patch that names a new pod because the pod cannot
// vanish before a status names it (FinalizerLauncherPod); the reconcile
// that writes Running merges with the delayed one in the work queue.
const coalesceWindow = 2 * time.Second

// holdBack returns how long to hold back next, or 0 to write it now. Only
// the pod's own progress is held back, never a failure, a terminating pod,
// a pod another status already depends on, or a VMI that is not moving
// forward.
func holdBack(vmi *virtv1alpha1.VirtualMachineInstance, next *virtv1alpha1.VirtualMachineInstanceStatus, pod *corev1.Pod, now time.Time) time.Duration {
	if pod == nil || pod.DeletionTimestamp != nil {
		return 0
	}
	var since time.Time
	switch {
	case orPending(vmi.Status.Phase) == virtv1alpha1.Pending && vmi.Status.LauncherPod == "" && (next.Phase == virtv1alpha1.Scheduling || next.Phase == virtv1alpha1.Scheduled):
		// The pod was created a moment ago.
		since = pod.CreationTimestamp.Time
	case vmi.Status.Phase == virtv1alpha1.Scheduling && next.Phase == virtv1alpha1.Scheduled:
		// The scheduler sets PodScheduled with the binding.
		c := podCondition(pod, corev1.PodScheduled)
		if c == nil || c.Status != corev1.ConditionTrue {
			return 0
		}
		since = c.LastTransitionTime.Time
	default:
		return 0
	}
	if since.IsZero() {
		return 0
	}
	// Both times are truncated to the second, so the wait is 1 to 2 s.
	age := max(now.Sub(since), 0)
	if age >= coalesceWindow {
		return 0
	}
	return coalesceWindow - age
}

// sooner returns the earlier of two requeue delays, 0 meaning none.
func sooner(a, b time.Duration) time.Duration {
	if a == 0 || (b != 0 && b < a) {
		return b
	}
	return a
}

// writtenVMIs keeps each VMI as this process last wrote its status, until
// the cache has caught up. A pod event that arrives while a status patch is
// in flight queues another reconcile at once; computed from the older
// cached VMI, its optimistic-lock patch would conflict and cost a requeue
// and a second patch. The newer of the cached and the written VMI is used
// instead (resource versions compare, KEP-5504). The VMI informer drops an
// entry once the cache has the write (SetupWithManager).
type writtenVMIs struct {
	mu sync.Mutex
	m  map[types.NamespacedName]*virtv1alpha1.VirtualMachineInstance
}

func (w *writtenVMIs) remember(vmi *virtv1alpha1.VirtualMachineInstance) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[types.NamespacedName]*virtv1alpha1.VirtualMachineInstance{}
	}
	w.m[types.NamespacedName{Namespace: vmi.Namespace, Name: vmi.Name}] = vmi.DeepCopy()
}

// newest returns the written copy when it is newer than cached (same UID),
// else cached; a written copy the cache has caught up with is dropped.
func (w *writtenVMIs) newest(cached *virtv1alpha1.VirtualMachineInstance) *virtv1alpha1.VirtualMachineInstance {
	key := types.NamespacedName{Namespace: cached.Namespace, Name: cached.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	written, ok := w.m[key]
	if !ok {
		return cached
	}
	if written.UID == cached.UID && newer(written.ResourceVersion, cached.ResourceVersion) {
		return written.DeepCopy()
	}
	delete(w.m, key)
	return cached
}

// seen drops the written copy of obj's key once the cache holds obj at
// least as new (called by the VMI informer for every update).
func (w *writtenVMIs) seen(obj *virtv1alpha1.VirtualMachineInstance) {
	key := types.NamespacedName{Namespace: obj.Namespace, Name: obj.Name}
	w.mu.Lock()
	defer w.mu.Unlock()
	written, ok := w.m[key]
	if !ok {
		return
	}
	if !newer(written.ResourceVersion, obj.ResourceVersion) || written.UID != obj.UID {
		delete(w.m, key)
	}
}

func (w *writtenVMIs) forget(key types.NamespacedName) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.m, key)
}
