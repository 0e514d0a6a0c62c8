/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tfstate owns what the runner keeps about an object in Kubernetes: the names and labels
// of its objects, its Terraform state in Secrets (chunked, checksummed, compare-and-swapped, with
// backups), its run lock in a Lease together with the run journal, and a metadata-only index of
// the state Secrets. It runs no terraform and reads no HCL; it never imports controller-runtime,
// the controllers, tfrunner or tfjob (test/imports holds these rules).
package tfstate

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultLockTTL is how long a lock lives without renewal unless configured otherwise.
const DefaultLockTTL = 40 * time.Second

// Config configures a Store.
type Config struct {
	Kube    kubernetes.Interface // Secrets (state) and Leases (locks)
	Holder  string               // lock holder identity (pod name)
	LockTTL time.Duration        // default DefaultLockTTL; a held lock is renewed every LockTTL/3
	// LeaderLease ("namespace/name") is the leader-election Lease of the manager this store
	// serves, whose holder identities are "<Holder>_<suffix>". A lock held by a candidate of the
	// same election that no longer leads, while this store's manager does, is taken over at once
	// instead of after LockTTL.
	LeaderLease string
	// OwnerRefs returns the ownerRefs of every object the store creates; default DefaultOwnerRefs.
	OwnerRefs func(ObjectRef) []metav1.OwnerReference
	Now       func() time.Time // the clock (tests); default time.Now
	Logger    logr.Logger
}

// Store reads and writes objects' state and locks. It is safe for concurrent use.
type Store struct {
	cfg       Config
	runs      sync.Map       // run ids holding a lock in this process
	releasing sync.Map       // run ids of this process whose Lease is being deleted
	releases  sync.WaitGroup // those deletions in flight
	gcDue     sync.Map       // primary state Secret name -> old backups/chunks to collect at the next run
	index     atomic.Pointer[stateIndex]
}

// New applies cfg's defaults.
func New(cfg Config) (*Store, error) {
	if cfg.Kube == nil || cfg.Holder == "" {
		return nil, fmt.Errorf("tfstate: Kube and Holder are required")
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = DefaultLockTTL
	}
	if cfg.OwnerRefs == nil {
		cfg.OwnerRefs = DefaultOwnerRefs
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg}, nil
}

// LockTTL is the lock's time to live, defaults applied.
func (s *Store) LockTTL() time.Duration { return s.cfg.LockTTL }

func (s *Store) now() time.Time { return s.cfg.Now() }
