/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package envtestutil

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/cluster-api/core/setup"
	"sigs.k8s.io/cluster-api/util/index"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// StartCAPIManager starts a manager running only CAPI's core Cluster and Machine reconcilers
// (as the local stack does) with cfg, for tests that run this provider's reconcilers in a
// manager of their own, e.g. under an impersonated identity (test/rbac). It returns when the
// cache has synced; stop cancels the manager and waits for it.
func StartCAPIManager(ctx context.Context, cfg *rest.Config) (stop func() error, err error) {
	scheme, err := NewScheme()
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(cfg, managerOptions(scheme))
	if err != nil {
		return nil, fmt.Errorf("creating CAPI manager: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	if err := index.AddDefaultIndexes(ctx, mgr); err != nil {
		cancel()
		return nil, err
	}
	if err := setupCAPI(ctx, mgr, false); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		cancel()
		return nil, fmt.Errorf("CAPI manager cache did not sync: %v", <-done)
	}
	return func() error { cancel(); return <-done }, nil
}

// managerOptions are a test manager's: the manager binary's cache and client, no metrics or
// health listeners.
func managerOptions(scheme *runtime.Scheme) ctrl.Options {
	return ctrl.Options{
		Scheme:                 scheme,
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  setup.ManagerCacheOptions(scheme, managerName(), "", 10*time.Minute),
		Client:                 setup.ManagerClientOptions(),
	}
}
