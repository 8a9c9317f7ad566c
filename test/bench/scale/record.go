package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
)

// record keeps, per object key (a pod's name, or a VMI's name for a VMI and
// its launcher pod), the local time of each event: create sent, pod ADDED,
// Ready first seen, pod DELETED. Times come from this process's clock when
// the request is sent or the watch event arrives, never from the objects'
// second-resolution timestamps.
type record struct {
	mu       sync.Mutex
	sent     map[string]time.Time
	created  map[string]time.Time // create call returned
	podAdded map[string]time.Time
	podBound map[string]time.Time // the pod's spec.nodeName first seen
	podReady map[string]time.Time // the pod's Ready condition
	vmiReady map[string]time.Time // the VMI's Ready condition
	podGone  map[string]time.Time
	delSent  map[string]time.Time
	podNames map[string]map[string]bool // key -> launcher pods seen
	// updates counts MODIFIED events per kind ("pod", "vmi").
	updates map[string]int
	changed chan struct{}
	// err is set when a watch lost events: the run is invalid.
	err error
}

func (r *record) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func newRecord() *record {
	return &record{
		sent: map[string]time.Time{}, created: map[string]time.Time{}, podAdded: map[string]time.Time{},
		podBound: map[string]time.Time{}, podReady: map[string]time.Time{}, vmiReady: map[string]time.Time{}, podGone: map[string]time.Time{}, delSent: map[string]time.Time{},
		podNames: map[string]map[string]bool{}, updates: map[string]int{}, changed: make(chan struct{}, 1),
	}
}

func (r *record) mark(m map[string]time.Time, key string, t time.Time) {
	r.mu.Lock()
	if _, ok := m[key]; !ok {
		m[key] = t
	}
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *record) count(m map[string]time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(m)
}

// waitFor waits until m has n keys.
func (r *record) waitFor(ctx context.Context, m map[string]time.Time, n int, what string) error {
	for {
		r.mu.Lock()
		err := r.err
		r.mu.Unlock()
		if err != nil {
			return err
		}
		if got := r.count(m); got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %d of %d after the timeout", what, r.count(m), n)
		case <-r.changed:
		case <-time.After(time.Second):
		}
	}
}

// span is the time from the earliest from[k] to the latest to[k].
func (r *record) span(from, to map[string]time.Time) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var first, last time.Time
	for _, t := range from {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	for _, t := range to {
		if t.After(last) {
			last = t
		}
	}
	if first.IsZero() || last.IsZero() {
		return math.NaN()
	}
	return last.Sub(first).Seconds()
}

// last is the latest time in m.
func (r *record) last(m map[string]time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	var last time.Time
	for _, t := range m {
		if t.After(last) {
			last = t
		}
	}
	return last
}

// latencies are to[k] - from[k] in seconds for every key in both.
func (r *record) latencies(from, to map[string]time.Time) []float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]float64, 0, len(to))
	for k, t := range to {
		if f, ok := from[k]; ok {
			out = append(out, t.Sub(f).Seconds())
		}
	}
	sort.Float64s(out)
	return out
}

// Stats are nearest-rank percentiles of raw samples, in seconds.
type Stats struct {
	Count int `json:"count"`
	P50   Num `json:"p50_s"`
	P95   Num `json:"p95_s"`
	P99   Num `json:"p99_s"`
	Max   Num `json:"max_s"`
}

func stats(sorted []float64) Stats {
	s := Stats{Count: len(sorted)}
	if len(sorted) == 0 {
		nan := Num(math.NaN())
		s.P50, s.P95, s.P99, s.Max = nan, nan, nan, nan
		return s
	}
	q := func(p float64) Num {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return Num(sorted[max(i, 0)])
	}
	s.P50, s.P95, s.P99, s.Max = q(0.50), q(0.95), q(0.99), Num(sorted[len(sorted)-1])
	return s
}

// watchLoop lists list in ns and then watches it from the list's
// resourceVersion, calling fn for every event (the listed objects as
// ADDED), and re-watches from the last version seen when the server ends
// the watch, until ctx ends.
func watchLoop(ctx context.Context, c client.WithWatch, list client.ObjectList, ns string, fn func(watch.EventType, client.Object), lost func(error)) error {
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		return err
	}
	items, err := meta.ExtractList(list)
	if err != nil {
		return err
	}
	for _, it := range items {
		fn(watch.Added, it.(client.Object))
	}
	rv := list.(metav1.ListInterface).GetResourceVersion()
	go func() {
		for ctx.Err() == nil {
			w, err := c.Watch(ctx, list, client.InNamespace(ns), &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: rv, AllowWatchBookmarks: true}})
			if err != nil {
				if apierrors.IsGone(err) || apierrors.IsResourceExpired(err) {
					lost(fmt.Errorf("watch %T in %s: resourceVersion %s expired: events were lost", list, ns, rv))
					return
				}
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				if ev.Type == watch.Error {
					if st, ok := ev.Object.(*metav1.Status); ok && st.Code == 410 {
						lost(fmt.Errorf("watch %T in %s: %s: events were lost", list, ns, st.Message))
						w.Stop()
						return
					}
					continue
				}
				obj, ok := ev.Object.(client.Object)
				if !ok {
					continue
				}
				rv = obj.GetResourceVersion()
				if ev.Type != watch.Bookmark {
					fn(ev.Type, obj)
				}
			}
			w.Stop()
		}
	}()
	return nil
}

// watchPods records pod ADDED, Ready and DELETED under key(pod).
func (r *record) watchPods(ctx context.Context, c client.WithWatch, ns string, key func(*corev1.Pod) string) error {
	return watchLoop(ctx, c, &corev1.PodList{}, ns, func(t watch.EventType, obj client.Object) {
		now := time.Now()
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		k := key(pod)
		if k == "" {
			return
		}
		r.mu.Lock()
		if r.podNames[k] == nil {
			r.podNames[k] = map[string]bool{}
		}
		r.podNames[k][pod.Name] = true
		r.mu.Unlock()
		r.mark(r.podAdded, k, now)
		if t == watch.Modified {
			r.countUpdate("pod", k)
		}
		if t == watch.Deleted {
			r.mark(r.podGone, k, now)
			return
		}
		if pod.Spec.NodeName != "" {
			r.mark(r.podBound, k, now)
		}
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				r.mark(r.podReady, k, now)
			}
		}
	}, r.fail)
}

// watchVMIs records when each VMI's Ready condition is first True.
func (r *record) watchVMIs(ctx context.Context, c client.WithWatch, ns string) error {
	return watchLoop(ctx, c, &virtv1alpha1.VirtualMachineInstanceList{}, ns, func(t watch.EventType, obj client.Object) {
		now := time.Now()
		vmi, ok := obj.(*virtv1alpha1.VirtualMachineInstance)
		if !ok || t == watch.Deleted {
			return
		}
		if t == watch.Modified {
			r.countUpdate("vmi", vmi.Name)
		}
		if meta.IsStatusConditionTrue(vmi.Status.Conditions, virtv1alpha1.ConditionReady) {
			r.mark(r.vmiReady, vmi.Name, now)
		}
	}, r.fail)
}

// countUpdate counts an update of key's object of kind ("pod", "vmi").
func (r *record) countUpdate(kind, key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates[kind]++
}

// duplicates lists keys that had more than one launcher pod.
func (r *record) duplicates() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k, names := range r.podNames {
		if len(names) > 1 {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// writeTimeline writes one CSV row per object key: the seconds from the
// phase's first create sent to each of its recorded events (empty when
// not seen), for reading a run's pipeline stage by stage.
func (r *record) writeTimeline(path string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var t0 time.Time
	for _, t := range r.sent {
		if t0.IsZero() || t.Before(t0) {
			t0 = t
		}
	}
	cols := []struct {
		name string
		m    map[string]time.Time
	}{
		{"sent", r.sent}, {"created", r.created}, {"pod_added", r.podAdded}, {"pod_bound", r.podBound},
		{"pod_ready", r.podReady}, {"vmi_ready", r.vmiReady},
	}
	keys := make([]string, 0, len(r.sent))
	for k := range r.sent {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return r.sent[keys[i]].Before(r.sent[keys[j]]) })
	var b strings.Builder
	fmt.Fprintf(&b, "# t0 %s\n", t0.UTC().Format(time.RFC3339Nano))
	b.WriteString("key")
	for _, c := range cols {
		b.WriteString("," + c.name)
	}
	b.WriteString("\n")
	for _, k := range keys {
		b.WriteString(k)
		for _, c := range cols {
			b.WriteString(",")
			if t, ok := c.m[k]; ok {
				fmt.Fprintf(&b, "%.3f", t.Sub(t0).Seconds())
			}
		}
		b.WriteString("\n")
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
