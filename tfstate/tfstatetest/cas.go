/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tfstatetest has test helpers for the code that keeps state and locks in Kubernetes.
package tfstatetest

import (
	"strconv"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// NewCASClientset is a fake clientset that, like the API server, keeps resourceVersions and rejects
// updates and preconditioned deletes carrying a stale one (the plain fake tracker does neither).
func NewCASClientset() *fake.Clientset {
	cs := fake.NewSimpleClientset()
	var rv atomic.Int64
	current := func(gvr schema.GroupVersionResource, ns, name string) metav1.Object {
		cur, err := cs.Tracker().Get(gvr, ns, name)
		if err != nil {
			return nil
		}
		m, _ := meta.Accessor(cur)
		return m
	}
	cs.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// Switch on the verb: CreateAction and UpdateAction are the same interface.
		switch a.GetVerb() {
		case "create":
			m, _ := meta.Accessor(a.(k8stesting.CreateAction).GetObject())
			m.SetResourceVersion(strconv.FormatInt(rv.Add(1), 10))
		case "update":
			act := a.(k8stesting.UpdateAction)
			m, _ := meta.Accessor(act.GetObject())
			if cur := current(act.GetResource(), act.GetNamespace(), m.GetName()); cur != nil &&
				m.GetResourceVersion() != "" && m.GetResourceVersion() != cur.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(act.GetResource().GroupResource(), m.GetName(), nil)
			}
			m.SetResourceVersion(strconv.FormatInt(rv.Add(1), 10))
		case "delete":
			act := a.(k8stesting.DeleteAction)
			pre := act.GetDeleteOptions().Preconditions
			cur := current(act.GetResource(), act.GetNamespace(), act.GetName())
			if pre != nil && pre.ResourceVersion != nil && cur != nil && *pre.ResourceVersion != cur.GetResourceVersion() {
				return true, nil, apierrors.NewConflict(act.GetResource().GroupResource(), act.GetName(), nil)
			}
		}
		return false, nil, nil
	})
	return cs
}

// Clock is a settable clock for lock tests.
type Clock struct{ T time.Time }

// Now is the clock's time.
func (c *Clock) Now() time.Time { return c.T }
