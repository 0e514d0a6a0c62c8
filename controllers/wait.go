/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/annotations"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Waiting states and what wakes each one up:
//
//   - WaitingForOwner (CustomCluster, CustomMachine): the owner reference the Cluster or Machine
//     controller sets is an update of the object itself; the condition is written only once the
//     object has waited ownerGrace.
//   - WaitingForClusterInfrastructure: Cluster infrastructure-provisioned transitions and
//     CustomCluster changes are watched.
//   - WaitingForBootstrapData, CredentialsNotFound/Invalid, ModuleInvalid/NotAllowed, a Machine
//     whose Cluster or CustomCluster does not exist yet: what they wait for (a Secret, a
//     ConfigMap, a module on disk or behind a remote source, a Cluster) is read directly, not
//     watched (caching every Secret of the cluster would cost more than polling the few objects
//     that wait), so they requeue with waitRequeue.
//   - Locked, WaitingForMachinesDeletion: a fixed requeue (lockedRequeue).
//   - AwaitingApproval: the approval is an annotation on the object itself.
const (
	waitMin = 2 * time.Second
	waitMax = time.Minute
)

// waitRequeue is when to look again at an object waiting for something no watch reports: soon
// for a new object (the awaited Secret usually follows within seconds), backing off with the
// object's age to once a minute for one that has waited long.
func (b *base) waitRequeue(obj metav1.Object) ctrl.Result {
	d := b.clock().Sub(obj.GetCreationTimestamp().Time) / 10
	return ctrl.Result{RequeueAfter: min(max(d, waitMin), waitMax)}
}

// ownerGrace is how long a new object without an owner reference waits before it says so: the
// Cluster or Machine controller sets the reference soon after both are created, and a
// WaitingForOwner condition written in between would be two writes nobody reads. Soon is seconds:
// CAPI's reconciler rate limiting (beta, on by default since v1.13) reconciles a Machine at most once a
// second, and its third reconcile (finalizer, Paused condition, then the infrastructure machine)
// sets the reference; with 100 machines created at once on 2 cores (make bench, P4) the p95 was 7 s.
const ownerGrace = 10 * time.Second

// ownerGrace returns the requeue of a new object still in its owner grace period.
func (b *base) ownerGrace(obj metav1.Object) (ctrl.Result, bool) {
	left := ownerGrace - b.clock().Sub(obj.GetCreationTimestamp().Time)
	if left <= 0 {
		return ctrl.Result{}, false
	}
	return ctrl.Result{RequeueAfter: min(left, ownerGrace)}, true // a clock behind the API server's waits no longer
}

// paused sets the Paused condition in memory (written with the reconcile's outcome, not in a
// request of its own as paused.EnsurePausedCondition does) and reports whether to stop here.
func (b *base) paused(ctx context.Context, cluster *clusterv1.Cluster, obj object) bool {
	c := metav1.Condition{Type: clusterv1.PausedCondition, Status: metav1.ConditionFalse, Reason: clusterv1.NotPausedReason}
	var why []string
	if ptr.Deref(cluster.Spec.Paused, false) {
		why = append(why, "Cluster spec.paused is set to true")
	}
	if annotations.HasPaused(obj) {
		kind := "Object"
		if gvk, err := apiutil.GVKForObject(obj, b.Client.Scheme()); err == nil {
			kind = gvk.Kind
		}
		why = append(why, kind+" has the "+clusterv1.PausedAnnotation+" annotation")
	}
	if len(why) > 0 {
		c.Status, c.Reason, c.Message = metav1.ConditionTrue, clusterv1.PausedReason, strings.Join(why, ", ")
		ctrl.LoggerFrom(ctx).V(4).Info("Reconciliation is paused for this object", "reason", c.Message)
	}
	conditions.Set(obj, c)
	return len(why) > 0
}
