/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"

	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Runner is what the reconcilers need from Terraform. tfrunner.Runner implements it; the
// reconcilers own the interface so they can be tested against fakes of pure behaviour.
type Runner interface {
	Reconcile(ctx context.Context, ws tfrunner.Workspace, p tfrunner.Policy) (tfrunner.Result, error)
	Destroy(ctx context.Context, ws tfrunner.Workspace) error
	DeleteState(ctx context.Context, obj tfstate.ObjectRef) error
	HasState(ctx context.Context, obj tfstate.ObjectRef) (bool, error)
}
