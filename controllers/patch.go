/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	jsonpatch "github.com/evanphx/json-patch/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/resourceversion"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// patcher writes what a reconcile changed in an object in at most two requests: metadata and
// spec in one merge patch, the whole status (conditions included) in another. CAPI's patch
// helper sends conditions as a third request, read-modify-written with a conflict retry loop
// against the cache, which cost a CustomMachine about eight status writes on its way to
// Provisioned. The conditions here are the reconciler's own (no other controller writes
// conditions on CustomClusters or CustomMachines), so the status is written as computed from the
// object read at the start of the reconcile, like spec and metadata are by the helper.
type patcher struct {
	mu     sync.Mutex // progress reports write from terraform's output goroutine
	c      client.Client
	before client.Object // what the API server holds, as far as this reconcile knows
	rv     string        // the object's resourceVersion after this reconcile's last write
	guard  *staleGuard
}

func (b *base) newPatcher(obj client.Object) *patcher {
	return &patcher{c: b.Client, before: obj.DeepCopyObject().(client.Object), rv: obj.GetResourceVersion(), guard: b.stale}
}

// Patch writes obj's changes since the reconcile read it (or since the last writeMeta), with
// status.observedGeneration (*observed) and the conditions' at the generation written.
func (p *patcher) Patch(ctx context.Context, obj object, observed *int64) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	*observed = obj.GetGeneration()
	main, status, err := mergePatches(p.before, obj)
	if err != nil {
		return fmt.Errorf("computing patches of %s: %w", obj.GetName(), err)
	}
	if main != nil {
		gen, err := p.send(ctx, obj, main, false)
		if err != nil {
			return fmt.Errorf("patching %s: %w", obj.GetName(), err)
		}
		// A spec write of the reconcile's own (spec.providerID) bumps the generation; what it
		// observed is that new generation, so status says so now instead of in another write.
		// Only when that write alone moved it: a user's concurrent change is not observed yet.
		if gen == obj.GetGeneration()+1 && hasKey(main, "spec") {
			observeGeneration(obj, gen, observed)
			if _, status, err = mergePatches(p.before, obj); err != nil {
				return fmt.Errorf("computing the status patch of %s: %w", obj.GetName(), err)
			}
		}
	}
	if status != nil {
		_, err := p.send(ctx, obj, status, true)
		gone := apierrors.IsNotFound(err) && !obj.GetDeletionTimestamp().IsZero() && len(obj.GetFinalizers()) == 0
		if err != nil && !gone {
			return fmt.Errorf("patching status of %s: %w", obj.GetName(), err)
		}
	}
	return nil
}

// writeMeta writes a metadata change now, ahead of the reconcile's final Patch (which then does
// not repeat it, and reverts it if the reconcile's object does not carry it).
func (p *patcher) writeMeta(ctx context.Context, change func(client.Object)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	next := p.before.DeepCopyObject().(client.Object)
	change(next)
	main, _, err := mergePatches(p.before, next)
	if err != nil || main == nil {
		return err
	}
	if _, err := p.send(ctx, next, main, false); err != nil {
		return err
	}
	p.before = next
	return nil
}

// writeStatus sends a status merge patch now, during the reconcile (a long run's progress), and
// applies it to what the final Patch diffs against: that Patch then removes what the reconcile's
// object does not carry.
func (p *patcher) writeStatus(ctx context.Context, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.send(ctx, p.before, data, true); err != nil {
		return err
	}
	cur, err := json.Marshal(p.before)
	if err != nil {
		return err
	}
	merged, err := jsonpatch.MergePatch(cur, data)
	if err != nil {
		return err
	}
	next := p.before.DeepCopyObject().(client.Object)
	if err := json.Unmarshal(merged, next); err != nil {
		return err
	}
	p.before = next
	return nil
}

// send issues one merge patch against a copy of obj and remembers the version it replaced; it
// returns the object's generation after the patch.
func (p *patcher) send(ctx context.Context, obj client.Object, data []byte, status bool) (int64, error) {
	cp := obj.DeepCopyObject().(client.Object)
	var err error
	if status {
		err = p.c.Status().Patch(ctx, cp, client.RawPatch(types.MergePatchType, data))
	} else {
		err = p.c.Patch(ctx, cp, client.RawPatch(types.MergePatchType, data))
	}
	// A no-op patch leaves the version as it was: nothing newer to wait for.
	if err == nil && cp.GetResourceVersion() != p.rv {
		p.rv = cp.GetResourceVersion()
		if p.guard != nil {
			p.guard.wrote(client.ObjectKeyFromObject(obj), p.rv)
		}
	}
	return cp.GetGeneration(), err
}

// hasKey reports whether a JSON object has a top-level key.
func hasKey(data []byte, key string) bool {
	var m map[string]json.RawMessage
	_ = json.Unmarshal(data, &m)
	_, ok := m[key]
	return ok
}

// observeGeneration moves obj, its observedGeneration and the conditions observed at its old
// generation to gen.
func observeGeneration(obj object, gen int64, observed *int64) {
	old := obj.GetGeneration()
	obj.SetGeneration(gen)
	if *observed == old {
		*observed = gen
	}
	conds := obj.GetConditions()
	for i := range conds {
		if conds[i].ObservedGeneration == old {
			conds[i].ObservedGeneration = gen
		}
	}
	obj.SetConditions(conds)
}

// mergePatches returns the merge patches from before to after of metadata and spec (main) and
// of status; nil where nothing changed. The resourceVersions are equal on both sides, so neither
// patch carries one (no optimistic lock, as with CAPI's helper).
func mergePatches(before, after client.Object) (main, status []byte, err error) {
	b, err := runtime.DefaultUnstructuredConverter.ToUnstructured(before)
	if err != nil {
		return nil, nil, err
	}
	a, err := runtime.DefaultUnstructuredConverter.ToUnstructured(after)
	if err != nil {
		return nil, nil, err
	}
	delete(b, "metadata")
	delete(a, "metadata")
	b["metadata"] = metaOf(before)
	a["metadata"] = metaOf(after)
	bs, as := map[string]any{"status": b["status"]}, map[string]any{"status": a["status"]}
	delete(b, "status")
	delete(a, "status")
	if main, err = mergePatch(b, a); err != nil {
		return nil, nil, err
	}
	status, err = mergePatch(bs, as)
	return main, status, err
}

// metaOf is the part of metadata a reconciler may change; resourceVersion and the server's
// bookkeeping stay out of the patch.
func metaOf(o client.Object) map[string]any {
	return map[string]any{"labels": orEmpty(o.GetLabels()), "annotations": orEmpty(o.GetAnnotations()),
		"finalizers": o.GetFinalizers(), "ownerReferences": o.GetOwnerReferences()}
}

// orEmpty keeps a nil map from turning into a null that would delete every entry.
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func mergePatch(before, after map[string]any) ([]byte, error) {
	bj, err := json.Marshal(before)
	if err != nil {
		return nil, err
	}
	aj, err := json.Marshal(after)
	if err != nil {
		return nil, err
	}
	data, err := jsonpatch.CreateMergePatch(bj, aj)
	if err != nil || string(data) == "{}" {
		return nil, err
	}
	return data, nil
}

// staleGuard remembers, per object, the newest resourceVersion this process wrote. The informer
// cache lags behind a write by a few milliseconds; a reconcile that reads an older version would
// act on old status (and write it back). Such a read is skipped: the watch event of the newer
// version is on its way and triggers the next reconcile. resourceVersions of one resource compare
// as integers (k8s.io/apimachinery/pkg/util/resourceversion); where they do not parse, no read is
// taken for stale.
type staleGuard struct {
	mu     sync.Mutex
	latest map[types.NamespacedName]string
}

func newStaleGuard() *staleGuard {
	return &staleGuard{latest: map[types.NamespacedName]string{}}
}

// wrote records a write of ours that produced version next.
func (g *staleGuard) wrote(key types.NamespacedName, next string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.latest[key] = next
}

// stale reports whether obj is older than the newest version this process wrote; a read of that
// version or a later one ends the watch for this object.
func (g *staleGuard) stale(obj client.Object) bool {
	key := client.ObjectKeyFromObject(obj)
	g.mu.Lock()
	defer g.mu.Unlock()
	latest, ok := g.latest[key]
	if !ok {
		return false
	}
	if c, err := resourceversion.CompareResourceVersion(obj.GetResourceVersion(), latest); err == nil && c < 0 {
		return true
	}
	delete(g.latest, key)
	return false
}

// forget drops what is known of a deleted object.
func (g *staleGuard) forget(key types.NamespacedName) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.latest, key)
}
