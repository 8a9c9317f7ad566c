// Package statuspatch writes a reconciled object's status the one way every
// VirtMesh controller does: once per reconcile, only when it changed, as a
// merge patch with an optimistic lock, so a status computed from a stale
// object never lands.
package statuspatch

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Patch sets *status to next and patches obj's status subresource when next
// differs from *status (status points into obj). conflict reports that the
// object changed meanwhile and nothing was written: the caller requeues and
// computes the status again. A deleted object is not an error.
func Patch[S any](ctx context.Context, c client.Client, obj client.Object, status *S, next S) (conflict bool, err error) {
	if equality.Semantic.DeepEqual(*status, next) {
		return false, nil
	}
	base, ok := obj.DeepCopyObject().(client.Object)
	if !ok {
		return false, fmt.Errorf("patch status: %T is not a client.Object", obj)
	}
	patch := client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})
	*status = next
	err = c.Status().Patch(ctx, obj, patch)
	switch {
	case err == nil, apierrors.IsNotFound(err):
		return false, nil
	case apierrors.IsConflict(err):
		return true, nil
	}
	return false, fmt.Errorf("patch status: %w", err)
}
