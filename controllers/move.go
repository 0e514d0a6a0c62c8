/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// blockMove returns the tfrunner OnRun hook that keeps clusterctl move from copying an object
// while terraform changes its state. Right before terraform runs, one metadata patch sets the
// annotation and the object's finalizer (added in memory by the reconcile, so an object is never
// without it once terraform may have created something). The reconcile's final patch removes
// the annotation again, whatever the run's outcome, with the rest of what the run changed; if
// that patch fails, the next reconcile drops the stale annotation (see run).
func (b *base) blockMove(obj client.Object, p *patcher) func(context.Context) error {
	return func(ctx context.Context) error {
		err := p.writeMeta(ctx, func(o client.Object) {
			markRunInFlight(o)
			o.SetFinalizers(obj.GetFinalizers())
		})
		if err != nil {
			return fmt.Errorf("setting %s: %w", clusterctlv1.BlockMoveAnnotation, err)
		}
		return nil
	}
}

// markRunInFlight sets the block-move annotation on o (in memory).
func markRunInFlight(o client.Object) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[clusterctlv1.BlockMoveAnnotation] = "terraform run in flight"
	o.SetAnnotations(a)
}

// patchMeta merge-patches a copy of obj, leaving the reconciler's copy (and its patch helper's
// view of it) untouched.
func (b *base) patchMeta(ctx context.Context, obj client.Object, patch []byte) error {
	return client.IgnoreNotFound(b.Client.Patch(ctx, obj.DeepCopyObject().(client.Object), client.RawPatch(types.MergePatchType, patch)))
}

var moveLabelOn = []byte(`{"metadata":{"labels":{"` + clusterctlv1.ClusterctlMoveLabel + `":""}}}`)

// movableReader reads the Secrets and ConfigMaps an object needs (credentials, its module) and
// labels each for clusterctl move the first time: `clusterctl move` carries only what it finds
// through owner references, cluster-name conventions or that label, and an object moved
// without its credentials or module could not run terraform on the new management cluster.
// A label that cannot be set is logged, not fatal: the run needs only the read.
type movableReader struct {
	client.Reader
	b *base
}

func (m movableReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if err := m.Reader.Get(ctx, key, obj, opts...); err != nil {
		return err
	}
	if _, ok := obj.GetLabels()[clusterctlv1.ClusterctlMoveLabel]; !ok && m.b.Client != nil {
		if err := m.b.patchMeta(ctx, obj, moveLabelOn); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Labelling for clusterctl move failed; the next reconcile retries", "name", key.Name)
		}
	}
	return nil
}
