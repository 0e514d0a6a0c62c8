/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"
)

// stateIndex is a metadata-only informer over the primary state Secrets (role=tfstate): the no-op
// check reads an object's inputs hash, serial, checksum and owner from it without an API call.
// Metadata only, so its memory does not grow with the size of the states.
type stateIndex struct{ informer cache.SharedIndexInformer }

// WatchStates starts the state index for namespace ("" for all) and waits for its first sync;
// it runs until ctx ends. Without it, the no-op check reads the state Secret (one GET each).
func (s *Store) WatchStates(ctx context.Context, md metadata.Interface, namespace string) error {
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
	inf := metadatainformer.NewFilteredMetadataInformer(md, gvr, namespace, 0, cache.Indexers{},
		func(o *metav1.ListOptions) { o.LabelSelector = LabelRole + "=tfstate" }).Informer()
	// Keep only what the no-op check reads: managed fields and labels would cost memory per object.
	if err := inf.SetTransform(func(o any) (any, error) {
		if m, ok := o.(*metav1.PartialObjectMetadata); ok {
			m.ManagedFields, m.Labels = nil, nil
		}
		return o, nil
	}); err != nil {
		return fmt.Errorf("state index: %w", err)
	}
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return fmt.Errorf("state index: cache did not sync: %w", ctx.Err())
	}
	s.index.Store(&stateIndex{informer: inf})
	return nil
}

// Indexed returns the primary state Secret's metadata from the index; ok is false when there is
// no index, so the caller reads the API instead. found is false when the index has no state.
func (s *Store) Indexed(obj ObjectRef) (m *metav1.PartialObjectMetadata, found, ok bool) {
	ix := s.index.Load()
	if ix == nil {
		return nil, false, false
	}
	item, exists, err := ix.informer.GetStore().GetByKey(obj.Namespace + "/" + primaryName(obj))
	if err != nil {
		return nil, false, false
	}
	if !exists {
		return nil, false, true
	}
	m, isMeta := item.(*metav1.PartialObjectMetadata)
	return m, isMeta, isMeta
}
