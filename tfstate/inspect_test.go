/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

// ReleaseLock frees an expired lock at once and a live one only when forced; either way the
// journal stays for the next holder's orphan report, and a forced holder's next renewal fails.
func TestReleaseLock(t *testing.T) {
	ctx := context.Background()
	obj := ObjectRef{Kind: "CustomMachine", Namespace: "ns", Name: "m"}
	cs := newCASClientset()
	clock := &tfstatetest.Clock{T: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	a := newFakeStore(t, "pod-a", cs, clock)
	b := newFakeStore(t, "pod-b", cs, clock)

	if _, err := ReleaseLock(ctx, cs, obj, true, clock.Now()); !errors.Is(err, ErrNotLocked) {
		t.Fatalf("no lease: %v", err)
	}
	la, err := a.acquire(ctx, obj, "run-a", "aws_instance.this")
	if err != nil {
		t.Fatal(err)
	}
	a.runs.Store("run-a", struct{}{})
	li, err := ReadLock(ctx, cs, obj)
	if err != nil || li.Holder != "pod-a" || li.RunID != "run-a" || len(li.Journal) != 1 || li.Expired(clock.Now()) {
		t.Fatalf("ReadLock: %+v %v", li, err)
	}

	var le *LockedError
	if _, err := ReleaseLock(ctx, cs, obj, false, clock.Now().Add(59*time.Second)); !errors.As(err, &le) || le.Holder != "pod-a" {
		t.Fatalf("live lock released without force: %v", err)
	}
	if _, err := ReleaseLock(ctx, cs, obj, true, clock.Now()); err != nil {
		t.Fatalf("forced release: %v", err)
	}
	if err := a.renew(ctx, la); err == nil {
		t.Fatal("the forced holder renewed its lock")
	}
	lb, err := b.acquire(ctx, obj, "run-b")
	if err != nil {
		t.Fatalf("a released lock is not free for another holder: %v", err)
	}
	if lb.Inherited() == nil || lb.Inherited().RunID != "run-a" || len(lb.Inherited().Addresses) != 1 {
		t.Fatalf("the journal was not handed to the next holder: %+v", lb.Inherited())
	}

	// An expired lock needs no force.
	clock.T = clock.T.Add(2 * time.Minute)
	if li, err := ReleaseLock(ctx, cs, obj, false, clock.Now()); err != nil || li.Holder != "pod-b" {
		t.Fatalf("expired lock: %+v %v", li, err)
	}
}
