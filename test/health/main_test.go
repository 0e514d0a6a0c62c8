/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package health checks what happens when the instance behind a provisioned CustomMachine dies,
// on the fakecloud module (bin/fakecloud and its real Terraform provider from bin/tf-mirror, which
// assigns instance ids): an instance deleted or stopped out of band is reported on the
// CustomMachine, never created again under the same Machine, and CAPI's own MachineHealthCheck
// and MachineSet reconcilers (in-process, beside the Cluster and Machine ones) replace the Machine.
package health

import (
	"context"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// driftInterval is how often provisioned objects are planned again (refreshed).
const driftInterval = 3 * time.Second

var (
	ctx   = context.Background()
	st    *envtestutil.Stack
	c     client.Client // reads go to the API server, not the manager's cache
	cloud *envtestutil.FakeCloud
	logs  = &envtestutil.SyncBuffer{}
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.InfoLevel)))
	os.Exit(envtestutil.Main(m, "health", logs, setup))
}

// setup starts the fake cloud and the stack with CAPI's remediation controllers.
func setup(tmp string) (stop func(), err error) {
	cloud, st, c, stop, err = envtestutil.StartFakeCloudStack(ctx, "health-token", envtestutil.StackOptions{
		WorkDir: tmp,
		Controller: controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 4, ApprovalMode: "auto",
			DriftCheckInterval: driftInterval},
		Remediation: true,
	})
	return stop, err
}
