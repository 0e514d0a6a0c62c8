/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// This file is the read-mostly view of an object's lock for tools beside the manager
// (kubectl-capc): they read with a clientset alone and never need a Store.

// LockInfo describes an object's lock Lease.
type LockInfo struct {
	Holder  string
	RunID   string
	Since   time.Time // acquired
	Renewed time.Time
	Expires time.Time
	// Journal lists what the run may create (the addresses a run killed now could orphan).
	Journal []string
}

// Expired reports whether the lock may be taken over at now.
func (l *LockInfo) Expired(now time.Time) bool { return !now.Before(l.Expires) }

// LockInfoOf reads a lock Lease; nil when no run holds it.
func LockInfoOf(cur *coordinationv1.Lease) *LockInfo {
	if cur.Spec.HolderIdentity == nil || *cur.Spec.HolderIdentity == "" {
		return nil
	}
	li := &LockInfo{RunID: cur.Annotations[AnnRunID], Holder: *cur.Spec.HolderIdentity}
	if cur.Spec.RenewTime != nil {
		li.Renewed = cur.Spec.RenewTime.Time
		li.Since = li.Renewed
		li.Expires = li.Renewed
	}
	if cur.Spec.AcquireTime != nil {
		li.Since = cur.Spec.AcquireTime.Time
	}
	if cur.Spec.LeaseDurationSeconds != nil {
		li.Expires = li.Expires.Add(time.Duration(*cur.Spec.LeaseDurationSeconds) * time.Second)
	}
	_ = json.Unmarshal([]byte(cur.Annotations[AnnCreating]), &li.Journal)
	return li
}

// LockLeaseName is the name of obj's lock Lease (in obj's namespace).
func LockLeaseName(obj ObjectRef) string { return leaseName(obj) }

// ReadLock returns obj's lock, or nil when no run holds it.
func ReadLock(ctx context.Context, kube kubernetes.Interface, obj ObjectRef) (*LockInfo, error) {
	cur, err := kube.CoordinationV1().Leases(obj.Namespace).Get(ctx, leaseName(obj), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading lock lease %s: %w", leaseName(obj), err)
	}
	return LockInfoOf(cur), nil
}

// ErrNotLocked is returned by ReleaseLock when no run holds the lock.
var ErrNotLocked = errors.New("not locked")

// ReleaseLock expires obj's lock so that the next run takes it over at once: an expired lock
// always, a live one only with force (else a *LockedError). The Lease is updated, not deleted, so
// the run's journal stays for the next run's orphan report; and because the update changes the
// Lease's resourceVersion, a holder that is still alive fails its next renewal and interrupts
// terraform (within a third of the lock TTL). It returns the lock as it was.
func ReleaseLock(ctx context.Context, kube kubernetes.Interface, obj ObjectRef, force bool, now time.Time) (*LockInfo, error) {
	c := kube.CoordinationV1().Leases(obj.Namespace)
	cur, err := c.Get(ctx, leaseName(obj), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, ErrNotLocked
	}
	if err != nil {
		return nil, fmt.Errorf("reading lock lease %s: %w", leaseName(obj), err)
	}
	li := LockInfoOf(cur)
	if li == nil {
		return nil, ErrNotLocked
	}
	if !li.Expired(now) && !force {
		return li, &LockedError{Holder: li.Holder, RunID: li.RunID, Since: li.Since, Expires: li.Expires}
	}
	next := cur.DeepCopy()
	// Renewed a lease duration (plus a second) ago: expired for every runner, whatever its clock says.
	ttl := li.Expires.Sub(li.Renewed)
	past := metav1.NewMicroTime(now.Add(-ttl - time.Second))
	next.Spec.RenewTime = &past
	if next.Spec.AcquireTime != nil && next.Spec.AcquireTime.After(past.Time) {
		next.Spec.AcquireTime = &past
	}
	if _, err := c.Update(ctx, next, metav1.UpdateOptions{}); err != nil {
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			return li, fmt.Errorf("the lock changed while it was being released (renewed or taken over); look again: %w", err)
		}
		return li, fmt.Errorf("releasing lock lease %s: %w", leaseName(obj), err)
	}
	return li, nil
}
