/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/company/cluster-api-provider-custom/tfstate/tfstatetest"
)

// newFakeStore returns a store on the given fake clientset.
func newFakeStore(t *testing.T, holder string, cs *fake.Clientset, clock *tfstatetest.Clock) *Store {
	t.Helper()
	s, err := New(Config{Kube: cs, Holder: holder, Logger: testr.New(t), LockTTL: time.Minute, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var newCASClientset = tfstatetest.NewCASClientset

// putRaw stores raw as obj's state.
func putRaw(ctx context.Context, s *Store, obj ObjectRef, raw []byte) (int64, error) {
	serial, _, err := s.Put(ctx, obj, Version{Raw: raw}, nil)
	return serial, err
}
