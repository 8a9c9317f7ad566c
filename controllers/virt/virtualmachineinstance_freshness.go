package virt

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"

	meshv1alpha1 "virtmesh.io/virtmesh/api/mesh/v1alpha1"
	virtv1alpha1 "virtmesh.io/virtmesh/api/virt/v1alpha1"
	"virtmesh.io/virtmesh/internal/injection"
)

// meshInputs answers, before a launcher pod is created, whether the cache's
// view of what decides mesh enrollment (the VMI's namespace and every
// MeshControlPlane) is at least as new as the VMI. A VMI applied together
// with its MeshControlPlane and member namespace can reach the controller
// before the cache has either; deciding from such a cache would run the VM
// outside the mesh for good, as its pod is never re-rendered.
//
// Resource versions are comparable (they order every write of the API
// server's storage, KEP-5504), so one metadata-only LIST of the control
// planes and of the namespace proves the cache complete up to the list's
// resource version R: every listed object is in the cache at least as new,
// and nothing the cache still holds was deleted by R. Every VMI whose
// resourceVersion is at most R is then decided from the cache, without a
// read of its own: a burst of VMIs shares one check, and concurrent workers
// share the one in flight. When the cache lags, the VMI is decided from the
// API server, as before.
type meshInputs struct {
	cache, live client.Reader

	mu       sync.Mutex
	verified map[string]string        // namespace -> resource version the cache is complete up to
	inflight map[string]chan struct{} // namespace -> closed when its check ends
	// snapshots memoizes decoded injection snapshots: they are immutable
	// ConfigMaps named after a hash of their content.
	snapshots map[types.NamespacedName]injection.Settings
}

// maxSnapshots bounds the memo; a control plane publishes a new snapshot
// only when its injection settings change.
const maxSnapshots = 64

func newMeshInputs(cache, live client.Reader) *meshInputs {
	return &meshInputs{cache: cache, live: live, verified: map[string]string{}, inflight: map[string]chan struct{}{}, snapshots: map[types.NamespacedName]injection.Settings{}}
}

// cacheFresh reports whether the cache may decide vmi's enrollment. An
// error, or resource versions that do not compare, answer false: the
// caller then reads the API server.
func (m *meshInputs) cacheFresh(ctx context.Context, vmi *virtv1alpha1.VirtualMachineInstance) bool {
	for range 3 { // a check that began before vmi was written may end below it
		m.mu.Lock()
		if v := m.verified[vmi.Namespace]; v != "" && atLeast(v, vmi.ResourceVersion) {
			m.mu.Unlock()
			return true
		}
		if wait, ok := m.inflight[vmi.Namespace]; ok {
			m.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return false
			}
		}
		done := make(chan struct{})
		m.inflight[vmi.Namespace] = done
		m.mu.Unlock()

		rv, ok := m.check(ctx, vmi.Namespace)

		m.mu.Lock()
		delete(m.inflight, vmi.Namespace)
		close(done)
		if ok {
			if cur := m.verified[vmi.Namespace]; cur == "" || newer(rv, cur) {
				m.verified[vmi.Namespace] = rv
			}
		}
		m.mu.Unlock()
		if !ok {
			return false
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return atLeast(m.verified[vmi.Namespace], vmi.ResourceVersion)
}

// newer reports whether resource version a is later than b; versions that
// do not compare are not.
func newer(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c > 0
}

// atLeast reports whether resource version a is b or later; versions that
// do not compare are not.
func atLeast(a, b string) bool {
	c, err := resourceversion.CompareResourceVersion(a, b)
	return err == nil && c >= 0
}

// check lists the control planes and the namespace from the API server
// (metadata only) and compares them with the cache. It returns the lower
// of the two lists' resource versions and whether the cache is complete up
// to it. The two LISTs are sent at once: when VMIs arrive one at a time
// every VMI waits for a check, and two round trips in a row were most of
// its create → pod latency. Each list is compared at its own resource
// version, so their order never mattered.
func (m *meshInputs) check(ctx context.Context, namespace string) (string, bool) {
	var liveNS metav1.PartialObjectMetadataList
	liveNS.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
	nsErr := make(chan error, 1)
	go func() { nsErr <- m.live.List(ctx, &liveNS, client.MatchingFields{"metadata.name": namespace}) }()

	var liveMCPs metav1.PartialObjectMetadataList
	liveMCPs.SetGroupVersionKind(meshv1alpha1.GroupVersion.WithKind("MeshControlPlaneList"))
	mcpErr := m.live.List(ctx, &liveMCPs)
	if err := <-nsErr; err != nil || mcpErr != nil {
		return "", false
	}

	var cachedMCPs meshv1alpha1.MeshControlPlaneList
	if err := m.cache.List(ctx, &cachedMCPs); err != nil {
		return "", false
	}
	cached := make([]client.Object, len(cachedMCPs.Items))
	for i := range cachedMCPs.Items {
		cached[i] = &cachedMCPs.Items[i]
	}
	if !covers(liveMCPs.ResourceVersion, liveMCPs.Items, cached) {
		return "", false
	}

	var cachedNS []client.Object
	ns := &corev1.Namespace{}
	switch err := m.cache.Get(ctx, types.NamespacedName{Name: namespace}, ns); {
	case err == nil:
		cachedNS = append(cachedNS, ns)
	case !apierrors.IsNotFound(err):
		return "", false
	}
	if !covers(liveNS.ResourceVersion, liveNS.Items, cachedNS) {
		return "", false
	}
	rv := liveMCPs.ResourceVersion
	if newer(rv, liveNS.ResourceVersion) {
		rv = liveNS.ResourceVersion
	}
	return rv, true
}

// covers reports whether cached holds every live object (listed at
// resource version at) at least as new, and nothing deleted by then.
func covers(at string, live []metav1.PartialObjectMetadata, cached []client.Object) bool {
	byUID := make(map[types.UID]client.Object, len(cached))
	for _, o := range cached {
		byUID[o.GetUID()] = o
	}
	for i := range live {
		o, ok := byUID[live[i].UID]
		if !ok {
			return false
		}
		if !atLeast(o.GetResourceVersion(), live[i].ResourceVersion) {
			return false
		}
		delete(byUID, live[i].UID)
	}
	// Cached but not listed: created after the list (newer than at), or
	// deleted before it and the cache has not seen the delete yet.
	for _, o := range byUID {
		if !newer(o.GetResourceVersion(), at) {
			return false
		}
	}
	return true
}

// snapshot returns the injection settings of snapshot key, read from the
// API server once and then from the memo (snapshots are immutable and named
// after their content). waiting is non-empty when the API server has none.
func (m *meshInputs) snapshot(ctx context.Context, key types.NamespacedName, mcpName string) (*injection.Settings, string, error) {
	m.mu.Lock()
	s, ok := m.snapshots[key]
	m.mu.Unlock()
	if ok {
		return &s, "", nil
	}
	cm := &corev1.ConfigMap{}
	if err := m.live.Get(ctx, key, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Sprintf("MeshControlPlane %s/%s names injection snapshot %s, which does not exist yet; the launcher pod is created once it does", key.Namespace, mcpName, key.Name), nil
		}
		return nil, "", fmt.Errorf("get injection snapshot %s: %w", key, err)
	}
	s, err := injection.FromSnapshot(cm)
	if err != nil {
		return nil, fmt.Sprintf("injection snapshot %s of MeshControlPlane %s is unreadable: %v", key, mcpName, err), nil
	}
	if cm.Immutable != nil && *cm.Immutable {
		m.mu.Lock()
		if len(m.snapshots) >= maxSnapshots {
			clear(m.snapshots)
		}
		m.snapshots[key] = s
		m.mu.Unlock()
	}
	return &s, "", nil
}
