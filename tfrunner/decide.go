/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// step is what a run under the lock does next.
type step int

const (
	stepSkip          step = iota // the state was applied from these inputs: answer from it
	stepApplyFresh                // no state resources, auto mode: one `terraform apply`
	stepApplySaved                // apply the saved plan (approved, or allowed by policy)
	stepReportPending             // the saved plan still waits: report it, plan nothing
	stepPlan                      // plan, then apply or save as policy says
)

// decision is what decide chose, with the policy as the chosen step reads it.
type decision struct {
	step   step
	policy Policy
	// stale is the refusal of an approval that matches no current saved plan: reported beside
	// the plan (stepPlan) or the pending plan (stepReportPending).
	stale *StalePlanError
}

// decide is a locked run's choice, from the policy, the run's inputs hash, the stored state and
// the saved plan (nil for none): pure, so every path has a table test.
func decide(p Policy, hash string, st *tfstate.StoredState, saved *savedPlan) decision {
	if st != nil && p.ApproveDigest == st.AppliedPlan {
		// An approval left on the object after its plan was applied approves nothing new; kept,
		// it would be refused as stale against every later plan.
		p.ApproveDigest = ""
	}
	if st != nil && st.InputsHash == hash && !p.Force && p.ApproveDigest == "" {
		return decision{step: stepSkip, policy: p}
	}
	if saved == nil && p.unplanned() && !hasResources(st) {
		return decision{step: stepApplyFresh, policy: p}
	}
	// A saved plan that is still current is applied (approved, or now allowed by policy) or
	// reported again as pending: re-planning would mint a new digest on every reconcile and the
	// user could never approve the one they saw.
	policies := planpolicy.Digest(p.PlanPolicies)
	current := saved != nil && staleReason(saved, saved.Digest, hash, policies, st) == ""
	if current && p.PreviewToken != "" && saved.Preview == p.PreviewToken {
		p.Force = false // this preview was answered already
	}
	switch {
	case current && saved.Verdict.Denied(): // no approval applies a denied plan
		if p.Force { // a drift check, preview or requested reconcile plans afresh, judged again
			return decision{step: stepPlan, policy: p}
		}
		return decision{step: stepReportPending, policy: p}
	case current && (p.ApproveDigest == saved.Digest ||
		p.ApproveDigest == "" && !p.Force && p.AutoApply && (!saved.Summary.Destructive() || p.AllowDestroy)):
		return decision{step: stepApplySaved, policy: p}
	case current && !p.Force:
		d := decision{step: stepReportPending, policy: p}
		if p.ApproveDigest != "" {
			d.stale = &StalePlanError{Approved: p.ApproveDigest, Saved: saved.Digest, Reason: "digest does not match the saved plan"}
		}
		return d
	case p.ApproveDigest != "":
		se := &StalePlanError{Approved: p.ApproveDigest, Reason: staleReason(saved, p.ApproveDigest, hash, policies, st)}
		if saved != nil {
			se.Saved = saved.Digest
		}
		return decision{step: stepPlan, policy: p, stale: se}
	}
	return decision{step: stepPlan, policy: p}
}
