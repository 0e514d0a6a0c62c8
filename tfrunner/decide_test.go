/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"testing"

	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Every path of a locked run's decision.
func TestDecide(t *testing.T) {
	const hash, old = "h-new", "h-old"
	withResources := &tfstate.StoredState{Raw: []byte(`{"lineage":"l","serial":3,"resources":[{"type":"t"}]}`), Serial: 3, Lineage: "l", InputsHash: old, AppliedPlan: "d-applied"}
	applied := &tfstate.StoredState{Raw: withResources.Raw, Serial: 3, Lineage: "l", InputsHash: hash, AppliedPlan: "d-applied"}
	empty := &tfstate.StoredState{Raw: []byte(`{"lineage":"l","serial":1,"resources":[]}`), Serial: 1, Lineage: "l"}
	plan := func(digest string, destructive bool, preview string) *savedPlan {
		p := &savedPlan{Digest: digest, InputsHash: hash, Serial: "3", Lineage: "l", Preview: preview}
		if destructive {
			p.Summary.Destroy = 1
		}
		return p
	}
	stalePlan := &savedPlan{Digest: "d-stale", InputsHash: old, Serial: "3", Lineage: "l"}
	rules := []planpolicy.Set{{Name: "p", Files: map[string]string{"p.rego": "package main"}}}
	judged := func(p *savedPlan, denied bool, sets []planpolicy.Set) *savedPlan {
		p.Verdict = &planpolicy.Verdict{Digest: planpolicy.Digest(sets)}
		if denied {
			p.Verdict.Denials = []planpolicy.Finding{{Message: "no"}}
		}
		return p
	}
	otherRules := []planpolicy.Set{{Name: "p", Files: map[string]string{"p.rego": "package main\n"}}}
	policed := func(p Policy) Policy { p.PlanPolicies = rules; return p }
	auto, manual := Policy{AutoApply: true}, Policy{}
	with := func(p Policy, f func(*Policy)) Policy { f(&p); return p }
	tests := []struct {
		name  string
		p     Policy
		st    *tfstate.StoredState
		saved *savedPlan
		want  step
		stale string // the refusal's reason, "" for none
		force bool   // the policy's Force as the step reads it
	}{
		{"applied from these inputs", auto, applied, nil, stepSkip, "", false},
		{"an approval of the plan already applied is dropped", with(auto, func(p *Policy) { p.ApproveDigest = "d-applied" }), applied, nil, stepSkip, "", false},
		{"first apply in auto mode, no state", auto, nil, nil, stepApplyFresh, "", false},
		{"first apply in auto mode, state without resources", auto, empty, nil, stepApplyFresh, "", false},
		{"first apply in manual mode plans", manual, nil, nil, stepPlan, "", false},
		{"a drift check plans", with(auto, func(p *Policy) { p.Force = true }), applied, nil, stepPlan, "", true},
		{"changed inputs plan", auto, withResources, nil, stepPlan, "", false},
		{"approved saved plan is applied", with(manual, func(p *Policy) { p.ApproveDigest = "d1" }), withResources, plan("d1", true, ""), stepApplySaved, "", false},
		{"auto applies a current non-destructive saved plan", auto, withResources, plan("d1", false, ""), stepApplySaved, "", false},
		{"auto holds a destructive one", auto, withResources, plan("d1", true, ""), stepReportPending, "", false},
		{"allow-destroy releases it", with(auto, func(p *Policy) { p.AllowDestroy = true }), withResources, plan("d1", true, ""), stepApplySaved, "", false},
		{"manual reports the pending plan again", manual, withResources, plan("d1", false, ""), stepReportPending, "", false},
		{"a wrong digest is refused beside the pending plan", with(manual, func(p *Policy) { p.ApproveDigest = "d0" }), withResources, plan("d1", false, ""),
			stepReportPending, "digest does not match the saved plan", false},
		{"a drift check replans over a pending plan", with(manual, func(p *Policy) { p.Force = true }), withResources, plan("d1", false, ""), stepPlan, "", true},
		{"a preview already answered is reported, not replanned", with(manual, func(p *Policy) { p.Force, p.PreviewToken = true, "tok" }), withResources,
			plan("d1", false, "tok"), stepReportPending, "", false},
		{"a new preview replans", with(manual, func(p *Policy) { p.Force, p.PreviewToken = true, "tok2" }), withResources,
			plan("d1", false, "tok"), stepPlan, "", true},
		{"approving a plan whose inputs changed replans and says why", with(manual, func(p *Policy) { p.ApproveDigest = "d-stale" }), withResources, stalePlan,
			stepPlan, "inputs changed since the plan was made", false},
		{"approving with no saved plan replans and says why", with(manual, func(p *Policy) { p.ApproveDigest = "d9" }), withResources, nil,
			stepPlan, "no saved plan", false},
		{"with plan policies a first apply plans, to be judged", policed(auto), nil, nil, stepPlan, "", false},
		{"a denied plan is reported, not applied", policed(auto), withResources, judged(plan("d1", false, ""), true, rules), stepReportPending, "", false},
		{"an approval does not apply a denied plan", with(policed(manual), func(p *Policy) { p.ApproveDigest = "d1" }), withResources,
			judged(plan("d1", false, ""), true, rules), stepReportPending, "", false},
		{"a drift check beside an approval of a denied plan plans again, never applies it", with(policed(manual), func(p *Policy) { p.ApproveDigest, p.Force = "d1", true }),
			withResources, judged(plan("d1", false, ""), true, rules), stepPlan, "", true},
		{"a plan that passed is applied in auto mode", policed(auto), withResources, judged(plan("d1", false, ""), false, rules), stepApplySaved, "", false},
		{"a plan judged by other policies is planned again", policed(auto), withResources, judged(plan("d1", false, ""), true, otherRules), stepPlan, "", false},
		{"approving a plan judged by other policies says why", with(policed(manual), func(p *Policy) { p.ApproveDigest = "d1" }), withResources,
			judged(plan("d1", false, ""), false, otherRules), stepPlan, "plan policies changed since the plan was judged", false},
		{"a plan judged before the policies went is planned again", auto, withResources, judged(plan("d1", true, ""), true, rules), stepPlan, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := decide(tt.p, hash, tt.st, tt.saved)
			reason := ""
			if d.stale != nil {
				reason = d.stale.Reason
			}
			if d.step != tt.want || reason != tt.stale || d.policy.Force != tt.force {
				t.Fatalf("decide = step %d, stale %q, force %v; want step %d, stale %q, force %v", d.step, reason, d.policy.Force, tt.want, tt.stale, tt.force)
			}
		})
	}
}
