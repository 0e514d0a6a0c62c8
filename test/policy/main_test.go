/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package policy checks a platform team's CustomPolicies on the real stack (envtest, CAPI core,
// real terraform, the fakecloud provider): rules that narrow the manager's flags per namespace,
// and conftest's Rego plan policies judging every plan before it is applied.
package policy

import (
	"context"
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/company/cluster-api-provider-custom/controllers"
	"github.com/company/cluster-api-provider-custom/test/envtestutil"
)

// policyNamespace is the provider's namespace, where plan policy ConfigMaps live.
const policyNamespace = "capc-system"

var (
	ctx   = context.Background()
	c     client.Client // reads go to the API server, not the manager's cache
	cloud *envtestutil.FakeCloud
	logs  = &envtestutil.SyncBuffer{}
)

func TestMain(m *testing.M) {
	ctrl.SetLogger(zap.New(zap.WriteTo(logs), zap.Level(zapcore.InfoLevel)))
	os.Exit(envtestutil.Main(m, "policy", logs, setup))
}

func setup(tmp string) (stop func(), err error) {
	cloud, _, c, stop, err = envtestutil.StartFakeCloudStack(ctx, "policy-token", envtestutil.StackOptions{
		WorkDir: tmp,
		// The flags allow every provider: the rules below only narrow them.
		Controller: controllers.Options{ClusterConcurrency: 2, MachineConcurrency: 4, ApprovalMode: "auto", PolicyNamespace: policyNamespace},
	})
	return stop, err
}
