/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestOwnerGrace(t *testing.T) {
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	b := &base{now: func() time.Time { return now }}
	at := func(created time.Time) metav1.Object {
		return &metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}
	}
	if r, ok := b.ownerGrace(at(now.Add(-2 * time.Second))); !ok || r.RequeueAfter != 8*time.Second {
		t.Errorf("2 s old: %v %v, want a requeue in 8 s", r, ok)
	}
	if _, ok := b.ownerGrace(at(now.Add(-11 * time.Second))); ok {
		t.Error("11 s old: the grace is over")
	}
	if r, ok := b.ownerGrace(at(now.Add(time.Hour))); !ok || r.RequeueAfter != ownerGrace {
		t.Errorf("created in the manager's future (clock skew): %v %v, want at most the grace", r, ok)
	}
}
