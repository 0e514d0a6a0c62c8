/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"maps"
	"reflect"

	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// machineInputsChanged passes Machine updates that can change what a CustomMachine does: its
// spec (bootstrap data secret, failure domain, providerID), labels (control plane), annotations
// (paused) and deletion. CAPI's Machine controller patches a Machine's status several times on its
// way to Running; each would otherwise re-run the CustomMachine's reconcile (and its bootstrap
// Secret read) for nothing.
func machineInputsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld, e.ObjectNew
		if o == nil || n == nil {
			return true
		}
		return o.GetGeneration() != n.GetGeneration() || !maps.Equal(o.GetLabels(), n.GetLabels()) ||
			!maps.Equal(o.GetAnnotations(), n.GetAnnotations()) ||
			!o.GetDeletionTimestamp().Equal(n.GetDeletionTimestamp())
	}}
}

// clusterOutputsChanged passes CustomCluster updates that change what its machines read: the spec
// (region, tags, network, endpoint), the labels (cluster name) and the outputs in status. A drift
// check or a condition change on the cluster does not re-reconcile every machine of it.
func clusterOutputsChanged() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*infrav1.CustomCluster)
		n, ok2 := e.ObjectNew.(*infrav1.CustomCluster)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation || o.Labels[clusterv1.ClusterNameLabel] != n.Labels[clusterv1.ClusterNameLabel] ||
			!reflect.DeepEqual(o.Status.Network, n.Status.Network) ||
			!reflect.DeepEqual(o.Status.LoadBalancer, n.Status.LoadBalancer) ||
			!reflect.DeepEqual(o.Status.FailureDomains, n.Status.FailureDomains)
	}}
}
