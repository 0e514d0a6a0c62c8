/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cluster-api/util/conditions"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// setCondition sets one condition; ObservedGeneration is taken from the object.
func setCondition(obj conditions.Setter, typ string, ok bool, reason, msgFmt string, args ...any) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	conditions.Set(obj, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: fmt.Sprintf(msgFmt, args...)})
}

// messageChanged reports whether obj's condition typ is absent or says something else than msg:
// an event that goes with a condition is recorded when its message first appears or changes, not
// on every reconcile.
func messageChanged(obj conditions.Getter, typ, msg string) bool {
	prev := conditions.Get(obj, typ)
	return prev == nil || prev.Message != msg
}

// setNotReady records why infrastructure is not (yet) provisioned on both the detailed condition
// and Ready, which CAPI mirrors onto the Cluster or Machine.
func setNotReady(obj conditions.Setter, reason, msgFmt string, args ...any) {
	setCondition(obj, infrav1.InfrastructureProvisionedCondition, false, reason, msgFmt, args...)
	setCondition(obj, infrav1.ReadyCondition, false, reason, msgFmt, args...)
}

func setReady(obj conditions.Setter, msg string) {
	setCondition(obj, infrav1.InfrastructureProvisionedCondition, true, infrav1.ProvisionedReason, "%s", msg)
	setCondition(obj, infrav1.ReadyCondition, true, infrav1.ProvisionedReason, "%s", msg)
}

// recordRun writes a run's outcome into status.terraform.
func recordRun(ts *infrav1.TerraformStatus, res tfrunner.Result, previewToken string, now time.Time) *infrav1.TerraformStatus {
	samePending := res.PendingApproval && ts != nil && ts.LastRunResult == infrav1.RunPendingApproval &&
		ts.Plan != nil && ts.Plan.Digest == res.PlanDigest
	if (res.Skipped || samePending) && ts != nil {
		// Nothing new: leaving status untouched keeps no-op reconciles from patching (and requeueing).
		return ts
	}
	if ts == nil {
		ts = &infrav1.TerraformStatus{}
	}
	t := metav1.NewTime(now)
	ts.LastRunTime = &t
	ts.StateSerial = res.StateSerial
	switch {
	case res.PendingApproval:
		ts.LastRunResult = infrav1.RunPendingApproval
	case res.Skipped:
		ts.LastRunResult = infrav1.RunSkipped
	default:
		ts.LastRunResult = infrav1.RunSucceeded
	}
	if !res.PendingApproval {
		ts.AppliedInputsHash = res.InputsHash
	}
	if res.Plan != nil {
		ts.Plan = planStatus(*res.Plan, res.PlanDigest, res.InputsHash, previewToken, t)
	}
	return ts
}

// planStatus converts a plan summary into status (addresses and actions only, never values).
func planStatus(s tfrunner.PlanSummary, digest, inputsHash, token string, at metav1.Time) *infrav1.PlanStatus {
	p := &infrav1.PlanStatus{
		Digest: digest, InputsHash: inputsHash, PreviewToken: token, CreatedAt: &at,
		Add: int32(s.Add), Change: int32(s.Change), Destroy: int32(s.Destroy), Replace: int32(s.Replace),
	}
	for i, rc := range s.Resources {
		if i == 500 { // status stays bounded; the plan Secret has the rest
			break
		}
		p.Resources = append(p.Resources, infrav1.ResourceChange{Address: rc.Address, Action: string(rc.Action)})
	}
	return p
}

// planText is the one-line plan summary used in conditions and events.
func planText(s tfrunner.PlanSummary) string {
	return fmt.Sprintf("%d to add, %d to change, %d to destroy, %d to replace", s.Add, s.Change, s.Destroy, s.Replace)
}

// approveCommand tells the user exactly how to approve a pending plan.
func approveCommand(kind, namespace, name, digest string) string {
	return fmt.Sprintf("kubectl annotate %s -n %s %s %s=%s --overwrite",
		strings.ToLower(kind), namespace, name, infrav1.ApprovePlanAnnotation, digest)
}

// annotationProblem reports an annotation value the provider cannot act on. The run is refused
// rather than guessed, so a typo such as approval: manaul never auto-applies.
func annotationProblem(annotations map[string]string) error {
	if v, ok := annotations[infrav1.ApprovalAnnotation]; ok && v != "auto" && v != "manual" {
		return fmt.Errorf("annotation %s must be auto or manual, got %q: nothing runs until it is fixed", infrav1.ApprovalAnnotation, v)
	}
	return nil
}

// policyFor derives the run policy from the object's annotations and the manager default.
func policyFor(annotations map[string]string, defaultMode string) tfrunner.Policy {
	mode := annotations[infrav1.ApprovalAnnotation]
	if mode != "auto" && mode != "manual" {
		mode = defaultMode
	}
	return tfrunner.Policy{
		AutoApply:     mode != "manual",
		AllowDestroy:  annotations[infrav1.AllowDestroyAnnotation] == "true",
		ApproveDigest: annotations[infrav1.ApprovePlanAnnotation],
		Force:         annotations[infrav1.PlanPreviewAnnotation] != "",
	}
}
