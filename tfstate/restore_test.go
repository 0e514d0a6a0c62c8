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

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

func TestBackupsAndRestore(t *testing.T) {
	ctx := context.Background()
	cs := newCASClientset()
	clock := &tfstatetest.Clock{T: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
	s := newFakeStore(t, "kubectl-capc", cs, clock)
	obj := ObjectRef{Kind: "CustomCluster", Namespace: "ns", Name: "c"}
	for serial := int64(1); serial <= 3; serial++ {
		if _, err := putRaw(ctx, s, obj, stateJSON("L", serial, strings.Repeat("v", int(serial)))); err != nil {
			t.Fatal(err)
		}
	}
	backups, err := Backups(ctx, cs, obj)
	if err != nil || len(backups) != 2 || backups[0].Serial != 2 || backups[1].Serial != 1 || backups[0].Resources != 1 {
		t.Fatalf("backups %+v %v, want serials 2 and 1", backups, err)
	}

	if _, err := s.Restore(ctx, obj, 7); err == nil || !strings.Contains(err.Error(), "has no backup of serial 7") {
		t.Fatalf("restore of a missing serial: %v", err)
	}
	serial, err := s.Restore(ctx, obj, 1)
	if err != nil || serial != 4 {
		t.Fatalf("restore: serial %d, %v", serial, err)
	}
	cur, err := s.Get(ctx, obj)
	if err != nil || cur.Serial != 4 || cur.Lineage != "L" || !strings.Contains(string(cur.Raw), `"payload":"v"}`) || cur.InputsHash != "" {
		t.Fatalf("current state after restore: %+v %v", cur, err)
	}
	if backups, _ = Backups(ctx, cs, obj); backups[0].Serial != 3 {
		t.Fatalf("the replaced state is not kept as a backup: %+v", backups)
	}

	// Refused while a run holds the lock.
	_, _, stop, err := s.Hold(ctx, obj)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	var locked *LockedError
	if _, err := s.Restore(ctx, obj, 3); !errors.As(err, &locked) {
		t.Fatalf("restore under a held lock: %v", err)
	}
}
