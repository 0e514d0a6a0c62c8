/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

func TestLockExpiryAndRecovery(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	start := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		advance   time.Duration // time between A's acquire and B's attempt
		sameHoldr bool          // B is a restarted A (same pod name, new process)
		wantLock  bool          // B gets a LockedError
	}{
		{"live lock", 30 * time.Second, false, true},
		{"just before expiry", time.Minute - time.Second, false, true},
		{"expired", time.Minute, false, false},
		{"long expired", time.Hour, false, false},
		{"restarted holder", time.Second, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCASClientset()
			clock := &tfstatetest.Clock{T: start}
			a := newFakeStore(t, "pod-a", cs, clock)
			la, err := a.acquire(ctx, obj, "run-a")
			if err != nil {
				t.Fatal(err)
			}
			a.runs.Store("run-a", struct{}{})
			holderB := "pod-b"
			if tt.sameHoldr {
				holderB = "pod-a"
			}
			b := newFakeStore(t, holderB, cs, clock)
			clock.T = start.Add(tt.advance)
			_, err = b.acquire(ctx, obj, "run-b")
			var le *LockedError
			if tt.wantLock {
				if !errors.As(err, &le) || le.Holder != "pod-a" || le.RunID != "run-a" || !le.Since.Equal(start) {
					t.Fatalf("want LockedError by pod-a, got %v", err)
				}
				if !strings.Contains(err.Error(), "locked by pod-a since 2026-01-01T10:00:00Z") {
					t.Fatalf("unclear message: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("take-over: %v", err)
			}
			// The old holder's compare-and-swap renew now fails: it must stop, not keep running.
			if err := a.renew(ctx, la); err == nil {
				t.Fatal("old holder renewed a lock it lost")
			}
			// And its release must not delete the new holder's lease (resourceVersion precondition).
			_ = a.release(ctx, la)
			cur, err := cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
			if err != nil || *cur.Spec.HolderIdentity != holderB || cur.Annotations[AnnRunID] != "run-b" {
				t.Fatalf("new holder's lease gone or changed: %v %v", cur, err)
			}
		})
	}
}

func TestLockRenewAndRelease(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	clock := &tfstatetest.Clock{T: time.Now()}
	a := newFakeStore(t, "pod-a", cs, clock)
	b := newFakeStore(t, "pod-b", cs, clock)
	la, err := a.acquire(ctx, obj, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	a.runs.Store("run-a", struct{}{})
	// Renewed leases stay live past the original expiry.
	for i := 0; i < 3; i++ {
		clock.T = clock.T.Add(50 * time.Second)
		if err := a.renew(ctx, la); err != nil {
			t.Fatal(err)
		}
	}
	var le *LockedError
	if _, err := b.acquire(ctx, obj, "x"); !errors.As(err, &le) {
		t.Fatalf("renewed lock not honoured: %v", err)
	}
	if err := a.release(ctx, la); err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(ctx, obj, "x"); err != nil {
		t.Fatalf("released lock not free: %v", err)
	}
}

// A run whose lease is taken over (e.g. after a long GC pause) is interrupted at the next renew.
func TestLostLockCancelsRun(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	a := newFakeStore(t, "pod-a", cs, &tfstatetest.Clock{T: time.Now()})
	a.cfg.LockTTL = 300 * time.Millisecond
	runCtx, _, stop, err := a.Hold(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	cur, _ := cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	thief := "pod-b"
	cur.Spec.HolderIdentity = &thief
	if _, err := cs.CoordinationV1().Leases("ns").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-runCtx.Done():
	case <-time.After(2 * time.Second):
		t.Fatal("run kept going after losing its lock")
	}
	stop()
	// The release must leave the thief's lease alone.
	l, err := cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	if err != nil || *l.Spec.HolderIdentity != "pod-b" {
		t.Fatalf("thief's lease: %v %v", l, err)
	}
}

// An API server outage shorter than the lock's remaining life does not interrupt the run; one
// that may let the lock expire does, and a lease taken by someone else does at once.
func TestRenewOrLose(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	clock := &tfstatetest.Clock{T: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	r := newFakeStore(t, "pod-a", cs, clock)
	r.cfg.LockTTL = 30 * time.Second
	l, err := r.acquire(ctx, obj, "run-a")
	if err != nil {
		t.Fatal(err)
	}
	down := true
	cs.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		if down {
			return true, nil, errors.New("connection refused")
		}
		return false, nil, nil
	})
	clock.T = clock.T.Add(10 * time.Second)
	if err := r.renewOrLose(ctx, l); err != nil {
		t.Fatalf("outage 10s into a 30s lock: %v", err)
	}
	clock.T = clock.T.Add(11 * time.Second)
	if err := r.renewOrLose(ctx, l); err == nil || !strings.Contains(err.Error(), "not renewed since") {
		t.Fatalf("outage 21s into a 30s lock: want the run stopped, got %v", err)
	}
	down = false
	if err := r.renewOrLose(ctx, l); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	// Someone else's write to the lease: a conflict is a lost lock, whatever the time.
	cur, _ := cs.CoordinationV1().Leases("ns").Get(ctx, leaseName(obj), metav1.GetOptions{})
	cur.Annotations = map[string]string{"x": "y"}
	if _, err := cs.CoordinationV1().Leases("ns").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := r.renewOrLose(ctx, l); err == nil {
		t.Fatal("renewing a lease someone else changed must fail")
	}
}

// A live lock of a manager that no longer leads its election is taken over at once by the one
// that does; a lock of the leader itself, of another election, or without one waits for its TTL.
func TestLockOfLostLeaderTakenOver(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	for _, tt := range []struct {
		name, leader, lockElection string
		takeOver                   bool
	}{
		{"old leader lost", "pod-b_1234", "capc-system/capc-le", true},
		{"holder still leads", "pod-a_1234", "capc-system/capc-le", false},
		{"neither leads", "pod-c_1234", "capc-system/capc-le", false},
		{"holder of another election", "pod-b_1234", "other/le", false},
		{"holder without election", "pod-b_1234", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cs := newCASClientset()
			clock := &tfstatetest.Clock{T: time.Now()}
			a := newFakeStore(t, "pod-a", cs, clock)
			a.cfg.LeaderLease = tt.lockElection
			if _, err := a.acquire(ctx, obj, "run-a"); err != nil {
				t.Fatal(err)
			}
			a.runs.Store("run-a", struct{}{})
			leader := tt.leader
			if _, err := cs.CoordinationV1().Leases("capc-system").Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: "capc-le"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: &leader}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			b := newFakeStore(t, "pod-b", cs, clock)
			b.cfg.LeaderLease = "capc-system/capc-le"
			l, err := b.acquire(ctx, obj, "run-b")
			if tt.takeOver {
				if err != nil || l.inherited == nil || l.inherited.Holder != "pod-a" {
					t.Fatalf("want an immediate takeover inheriting pod-a's run, got %+v %v", l, err)
				}
				return
			}
			var locked *LockedError
			if !errors.As(err, &locked) {
				t.Fatalf("want LockedError, got %v", err)
			}
		})
	}
}

// A journal handed to acquire is written with the lease it creates, so the run's journal call
// for the same addresses sends no update; a lease taken over keeps the dead run's journal.
func TestAcquireWritesFirstJournal(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	r := newFakeStore(t, "pod-a", cs, &tfstatetest.Clock{T: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)})
	l, err := r.acquire(ctx, obj, "run-a", "a.x", "b.y[*]")
	if err != nil {
		t.Fatal(err)
	}
	if got := l.cur.Annotations[AnnCreating]; got != `["a.x","b.y[*]"]` {
		t.Fatalf("journal on the created lease = %q", got)
	}
	updates := 0
	cs.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		updates++
		return false, nil, nil
	})
	if err := r.Journal(ctx, l, "b.y[*]", "a.x"); err != nil || updates != 0 {
		t.Fatalf("journal of what the lease holds: err %v, %d updates, want none", err, updates)
	}
	if err := r.Journal(ctx, l, "c.z"); err != nil || updates != 1 {
		t.Fatalf("journal of a new address: err %v, %d updates, want 1", err, updates)
	}
}
