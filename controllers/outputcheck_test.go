/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
)

// A providerID is held by the CustomMachine whose spec has it (any namespace), or, for a minute,
// by the reconcile of this process that is writing it.
func TestProviderIDHolder(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := infrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	machine := func(ns, name, uid, id string) *infrav1.CustomMachine {
		return &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)},
			Spec: infrav1.CustomMachineSpec{ProviderID: id}}
	}
	written := machine("a", "m", "uid-a", "custom://x/i-1")
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(written).
		WithIndex(&infrav1.CustomMachine{}, providerIDField, func(o client.Object) []string {
			if id := o.(*infrav1.CustomMachine).Spec.ProviderID; id != "" {
				return []string{id}
			}
			return nil
		}).Build()
	now := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	b := &base{Client: c, pids: &providerIDs{claims: map[string]providerIDClaim{}}, now: func() time.Time { return now }}
	ctx := context.Background()
	holder := func(cm *infrav1.CustomMachine, id string) string {
		t.Helper()
		h, err := b.providerIDHolder(ctx, cm, id)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	if h := holder(machine("b", "m", "uid-b", ""), "custom://x/i-1"); h != "a/m" {
		t.Fatalf("written in another namespace: holder %q, want a/m", h)
	}
	if h := holder(written, "custom://x/i-1"); h != "" {
		t.Fatalf("its own providerID: holder %q", h)
	}
	first, second := machine("c", "m1", "uid-c1", ""), machine("c", "m2", "uid-c2", "")
	if h := holder(first, "custom://x/i-2"); h != "" {
		t.Fatalf("a free providerID: holder %q", h)
	}
	if h := holder(second, "custom://x/i-2"); h != "c/m1" {
		t.Fatalf("claimed by a reconcile in flight: holder %q, want c/m1", h)
	}
	now = now.Add(claimTTL)
	if h := holder(second, "custom://x/i-2"); h != "" {
		t.Fatalf("a claim the index never confirmed expires: holder %q", h)
	}
}
