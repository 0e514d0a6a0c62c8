/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/util/workqueue"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// newPolicyCache is a cache of the provider's namespace, for the plan policy ConfigMaps: the
// manager's own cache holds no ConfigMaps, and caching every namespace's would cost memory for
// nothing. The manager starts and stops it.
func newPolicyCache(mgr ctrl.Manager, namespace string) (cache.Cache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{Scheme: mgr.GetScheme(), Mapper: mgr.GetRESTMapper(),
		DefaultNamespaces: map[string]cache.Config{namespace: {}}, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		return nil, fmt.Errorf("creating the cache of namespace %s: %w", namespace, err)
	}
	return c, mgr.Add(c)
}

// requests are the reconcile requests of a list's objects of this shard (watch filter).
func requests(l client.ObjectList, watchFilter string) []reconcile.Request {
	var reqs []reconcile.Request
	_ = meta.EachListItem(l, func(o runtime.Object) error {
		co := o.(client.Object)
		if watchFilter == "" || co.GetLabels()[clusterv1.WatchLabel] == watchFilter {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(co)})
		}
		return nil
	})
	return reqs
}

// policyWatch re-checks the objects of one kind that a change of their rules concerns: a
// CustomPolicy created, changed or deleted (the namespaces its old and new selectors select), a
// namespace's labels (which policies select it), a plan policy ConfigMap or Flux source.
type policyWatch struct {
	c           client.Reader
	list        func() client.ObjectList
	watchFilter string
}

// governed lists the objects in the namespaces any of the policies selects (a policy whose
// selector does not parse selects all: it refuses them).
func (w policyWatch) governed(ctx context.Context, policies ...*infrav1.CustomPolicy) []reconcile.Request {
	var nss corev1.NamespaceList
	if err := w.c.List(ctx, &nss); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing namespaces for a CustomPolicy change")
		return nil
	}
	var reqs []reconcile.Request
	for _, ns := range nss.Items {
		for _, p := range policies {
			if ok, err := selects(p, ns.Labels); ok || err != nil {
				reqs = append(reqs, w.in(ctx, ns.Name)...)
				break
			}
		}
	}
	return reqs
}

// in lists the objects of namespace ns.
func (w policyWatch) in(ctx context.Context, ns string) []reconcile.Request {
	l := w.list()
	if err := w.c.List(ctx, l, client.InNamespace(ns)); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing objects for a rules change", "namespace", ns)
		return nil
	}
	return requests(l, w.watchFilter)
}

// using lists the objects governed by the policies whose plan policies use a source.
func (w policyWatch) using(ctx context.Context, uses func(infrav1.PlanPolicySource) bool) []reconcile.Request {
	var pl infrav1.CustomPolicyList
	if err := w.c.List(ctx, &pl); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing CustomPolicies")
		return nil
	}
	var users []*infrav1.CustomPolicy
	for i := range pl.Items {
		for _, src := range pl.Items[i].Spec.PlanPolicies {
			if uses(src) {
				users = append(users, &pl.Items[i])
				break
			}
		}
	}
	if len(users) == 0 {
		return nil
	}
	return w.governed(ctx, users...)
}

// usingSource lists the objects whose plan policies come from the Flux source key (kind/ns/name).
func (w policyWatch) usingSource(ctx context.Context, key string) []reconcile.Request {
	return w.using(ctx, func(src infrav1.PlanPolicySource) bool {
		return src.SourceRef != nil && sourceKey(src.SourceRef, "") == key
	})
}

// watch adds the watches to the builder; policyConfigMaps is the provider namespace's cache.
func (w policyWatch) watch(bld *builder.Builder, policyConfigMaps cache.Cache) {
	type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]
	add := func(q queue, reqs []reconcile.Request) {
		for _, r := range reqs {
			q.Add(r)
		}
	}
	bld.Watches(&infrav1.CustomPolicy{}, handler.Funcs{
		CreateFunc: func(ctx context.Context, e event.CreateEvent, q queue) {
			add(q, w.governed(ctx, e.Object.(*infrav1.CustomPolicy)))
		},
		UpdateFunc: func(ctx context.Context, e event.UpdateEvent, q queue) {
			add(q, w.governed(ctx, e.ObjectOld.(*infrav1.CustomPolicy), e.ObjectNew.(*infrav1.CustomPolicy)))
		},
		DeleteFunc: func(ctx context.Context, e event.DeleteEvent, q queue) {
			if p, ok := e.Object.(*infrav1.CustomPolicy); ok {
				add(q, w.governed(ctx, p))
			}
		},
	}, builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	labelsChanged := predicate.Funcs{
		CreateFunc: func(event.CreateEvent) bool { return false }, // a new namespace holds nothing yet
		DeleteFunc: func(event.DeleteEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return !maps.Equal(e.ObjectOld.GetLabels(), e.ObjectNew.GetLabels())
		},
	}
	bld.Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, ns client.Object) []reconcile.Request {
		return w.in(ctx, ns.GetName())
	}), builder.WithPredicates(labelsChanged))
	bld.WatchesRawSource(source.Kind(policyConfigMaps, &corev1.ConfigMap{},
		handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, cm *corev1.ConfigMap) []reconcile.Request {
			return w.using(ctx, func(src infrav1.PlanPolicySource) bool {
				return src.ConfigMapRef != nil && src.ConfigMapRef.Name == cm.Name
			})
		})))
}
