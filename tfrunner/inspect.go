/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"

	"k8s.io/client-go/kubernetes"

	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// This file is the read-mostly view of an object's runner data for tools beside the manager
// (kubectl-capc): they read with a clientset alone and never need a Runner or terraform.

// SavedPlan is the plan an object's plan Secret holds.
type SavedPlan struct {
	Digest     string
	InputsHash string
	Summary    PlanSummary
	Text       string // `terraform show` of the planfile, redacted of sensitive values
	Preview    string // the plan-preview token it answered, if any
	Policy     *planpolicy.Verdict
}

// ReadPlan returns obj's saved plan (checked against its digest), or nil when there is none.
func ReadPlan(ctx context.Context, kube kubernetes.Interface, obj tfstate.ObjectRef) (*SavedPlan, error) {
	p, err := readPlan(ctx, kube, obj)
	if p == nil || err != nil {
		return nil, err
	}
	return &SavedPlan{Digest: p.Digest, InputsHash: p.InputsHash, Summary: p.Summary, Text: p.Text, Preview: p.Preview, Policy: p.Verdict}, nil
}
