package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
)

// Waiting states and what wakes each one up:
//
//   - WaitingForOwner (CustomCluster, CustomMachine): the owner reference the Cluster or Machine
//     controller sets is an update of the object itself.
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
