/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Lease is a held lock; renew/release use its last resourceVersion (compare-and-swap).
type Lease struct {
	obj   ObjectRef
	runID string
	mu    sync.Mutex // renewals and journal writes update cur in turn
	cur   *coordinationv1.Lease
	// inherited is the journal of the dead run this lease was taken over from.
	inherited *SuspectedOrphans
}

// update applies change to the lease's annotations (skipped when change reports no change).
// Inherited is the journal of the dead run this lease was taken over from (nil: none).
func (l *Lease) Inherited() *SuspectedOrphans { return l.inherited }

func (l *Lease) update(ctx context.Context, s *Store, change func(map[string]string) bool) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.cur.DeepCopy()
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	if !change(next.Annotations) {
		return nil
	}
	updated, err := s.cfg.Kube.CoordinationV1().Leases(l.obj.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("updating lock lease: %w", err)
	}
	l.cur = updated
	return nil
}

func leaseName(obj ObjectRef) string { return BaseName(obj) + "-lock" }

// acquire takes the object's Lease, or fails fast with *LockedError. A lease held by a dead run
// (expired, or held by this holder under a run id this process does not know) is taken over with
// a compare-and-swap update, so two runners can never both win.
//
// journal, when given, is written into a lease this call creates (not one it takes over: that
// one keeps the dead run's journal), saving the run its first journal update.
func (s *Store) acquire(ctx context.Context, obj ObjectRef, runID string, journal ...string) (*Lease, error) {
	c := s.cfg.Kube.CoordinationV1().Leases(obj.Namespace)
	now := s.now()
	for try := 0; try < maxCASTries; try++ {
		// A released lock is deleted, so the common case is no lease: try to create it first.
		var cur *coordinationv1.Lease
		var err error = apierrors.NewNotFound(coordinationv1.Resource("leases"), leaseName(obj))
		if try > 0 {
			cur, err = c.Get(ctx, leaseName(obj), metav1.GetOptions{})
		}
		if apierrors.IsNotFound(err) {
			l := s.newLease(obj, runID, now)
			if len(journal) > 0 {
				b, _ := json.Marshal(journal)
				l.Annotations[AnnCreating] = string(b)
			}
			created, err := c.Create(ctx, l, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("creating lock lease: %w", err)
			}
			return &Lease{obj: obj, runID: runID, cur: created}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading lock lease: %w", err)
		}
		if lerr := s.heldBy(cur, now); lerr != nil && !s.holderLostLeadership(ctx, cur) {
			return nil, lerr
		}
		next := s.newLease(obj, runID, now)
		next.ResourceVersion = cur.ResourceVersion
		_, ours := s.releasing.Load(cur.Annotations[AnnRunID]) // a run of ours that finished
		if j := cur.Annotations[AnnCreating]; j != "" && !ours {
			next.Annotations[AnnCreating] = j // kept until this run releases the lease: a crash first loses nothing
		}
		updated, err := c.Update(ctx, next, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
			continue // changed or released in between: read again
		}
		if err != nil {
			return nil, fmt.Errorf("taking over lock lease: %w", err)
		}
		l := &Lease{obj: obj, runID: runID, cur: updated}
		if cur.Spec.HolderIdentity != nil && *cur.Spec.HolderIdentity != "" && !ours {
			s.cfg.Logger.Info("recovered stale terraform lock", "object", obj.Name,
				"previousHolder", *cur.Spec.HolderIdentity, "previousRun", cur.Annotations[AnnRunID])
			l.inherited = &SuspectedOrphans{Holder: *cur.Spec.HolderIdentity, RunID: cur.Annotations[AnnRunID]}
			_ = json.Unmarshal([]byte(cur.Annotations[AnnCreating]), &l.inherited.Addresses)
		}
		return l, nil
	}
	return nil, fmt.Errorf("acquiring lock lease %s: too many conflicts", leaseName(obj))
}

// heldBy returns a *LockedError when cur is a live lock of another run.
func (s *Store) heldBy(cur *coordinationv1.Lease, now time.Time) error {
	li := LockInfoOf(cur)
	if li == nil || cur.Spec.RenewTime == nil {
		return nil
	}
	// Our own identity with a run id we are not running: a previous incarnation of this pod died.
	if li.Holder == s.cfg.Holder {
		if _, running := s.runs.Load(li.RunID); !running {
			return nil
		}
	} else if li.Expired(now) {
		return nil
	}
	return &LockedError{Holder: li.Holder, RunID: li.RunID, Since: li.Since, Expires: li.Expires}
}

// holderLostLeadership reports whether cur is held by a candidate of this manager's leader
// election that no longer leads, while this manager does (see Config.LeaderLease).
func (s *Store) holderLostLeadership(ctx context.Context, cur *coordinationv1.Lease) bool {
	if s.cfg.LeaderLease == "" || cur.Annotations[AnnLeaderLease] != s.cfg.LeaderLease || cur.Spec.HolderIdentity == nil {
		return false
	}
	ns, name, _ := strings.Cut(s.cfg.LeaderLease, "/")
	le, err := s.cfg.Kube.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil || le.Spec.HolderIdentity == nil {
		return false
	}
	leader := *le.Spec.HolderIdentity
	holder := *cur.Spec.HolderIdentity
	if !strings.HasPrefix(leader, s.cfg.Holder+"_") || strings.HasPrefix(leader, holder+"_") {
		return false
	}
	s.cfg.Logger.Info("taking over the lock of a manager that no longer leads", "object", cur.Name,
		"previousHolder", holder, "leader", leader)
	return true
}

func (s *Store) newLease(obj ObjectRef, runID string, now time.Time) *coordinationv1.Lease {
	secs := int32((s.cfg.LockTTL + time.Second - 1) / time.Second)
	t := metav1.NewMicroTime(now)
	holder := s.cfg.Holder
	l := &coordinationv1.Lease{ObjectMeta: s.ObjectMeta(obj, leaseName(obj), "lock"),
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, AcquireTime: &t, RenewTime: &t}}
	l.Annotations[AnnRunID] = runID
	if s.cfg.LeaderLease != "" {
		l.Annotations[AnnLeaderLease] = s.cfg.LeaderLease
	}
	return l
}

// renew extends the lease; an error means the lock was lost and the run must stop.
func (s *Store) renew(ctx context.Context, l *Lease) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	next := l.cur.DeepCopy()
	t := metav1.NewMicroTime(s.now())
	next.Spec.RenewTime = &t
	updated, err := s.cfg.Kube.CoordinationV1().Leases(l.obj.Namespace).Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("renewing lock lease: %w", err)
	}
	l.cur = updated
	return nil
}

// renewOrLose renews the lease, each attempt bounded by a request timeout so that a hung call
// cannot outlive the lock. A failed attempt is retried at the next tick while the lease is still
// ours for sure (an API server outage shorter than the lock's remaining life costs nothing); an
// error is returned once the lease was taken (conflict, deleted) or may have expired.
func (s *Store) renewOrLose(ctx context.Context, l *Lease) error {
	rctx, cancel := context.WithTimeout(ctx, s.cfg.LockTTL/3)
	defer cancel()
	err := s.renew(rctx, l)
	if err == nil || apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		return err
	}
	l.mu.Lock()
	last := l.cur.Spec.RenewTime.Time
	l.mu.Unlock()
	// Another runner may take the lock over once it expires: stop a tick before that.
	if s.now().After(last.Add(s.cfg.LockTTL - s.cfg.LockTTL/3)) {
		return fmt.Errorf("lock not renewed since %s: %w", last.Format(time.RFC3339), err)
	}
	s.cfg.Logger.Info("renewing terraform lock failed; retrying", "object", l.obj.Name, "error", err.Error())
	return nil
}

// release deletes the lease only if it is still ours (resourceVersion precondition).
func (s *Store) release(ctx context.Context, l *Lease) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rv, uid := l.cur.ResourceVersion, l.cur.UID
	err := s.cfg.Kube.CoordinationV1().Leases(l.obj.Namespace).Delete(ctx, leaseName(l.obj),
		metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv, UID: &uid}})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing lock lease: %w", err)
	}
	return nil
}

// Hold acquires the lock and keeps it renewed until the returned stop func is called. The returned
// context is cancelled if the lock is lost, so terraform is interrupted rather than racing another
// run. A lock another live run holds fails fast with *LockedError. journal, when given, is written
// into a lease this call creates (see acquire).
func (s *Store) Hold(ctx context.Context, obj ObjectRef, journal ...string) (context.Context, *Lease, func(), error) {
	runID := newRunID()
	s.runs.Store(runID, struct{}{})
	l, err := s.acquire(ctx, obj, runID, journal...)
	if err != nil {
		s.runs.Delete(runID)
		return nil, nil, nil, err
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(s.cfg.LockTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-t.C:
				if err := s.renewOrLose(runCtx, l); err != nil && runCtx.Err() == nil {
					s.cfg.Logger.Error(err, "lost terraform lock, interrupting run", "object", obj.Name)
					cancel()
					return
				}
			}
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			<-done
			// The run is over once its state is pushed; deleting the Lease is not on the caller's
			// path. Until it is gone, this process may take the lock over at once (a run id of
			// ours that is not running), without treating it as a crashed run.
			s.releasing.Store(runID, struct{}{})
			s.runs.Delete(runID)
			s.releases.Add(1)
			go func() {
				defer s.releases.Done()
				defer s.releasing.Delete(runID)
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				defer rcancel()
				if err := s.release(rctx, l); err != nil && !apierrors.IsConflict(err) {
					s.cfg.Logger.Error(err, "releasing terraform lock (it will expire)", "object", obj.Name)
				}
			}()
		})
	}
	return runCtx, l, stop, nil
}

// Wait blocks until the locks of finished runs are released; a manager calls it before it exits
// so that a graceful stop leaves no lock behind.
func (s *Store) Wait() { s.releases.Wait() }

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
