/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

// Package tfrunner runs one Terraform root module for one Kubernetes object: the binary, the
// workspace and init cache, the sandbox, plan/apply/destroy and the decision between them, saved
// plans and redaction. The object's state, lock and run journal are package tfstate's. It checks
// no module (that is the caller's) and never imports controller-runtime, Cluster API, the
// controllers, modulecheck, modulesrc, contract or tfjob (test/imports holds these rules).
package tfrunner

import (
	"context"
	"encoding/json"
	"io/fs"
	"time"

	"github.com/zclconf/go-cty/cty"

	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Workspace is everything one run needs. Job mode (package tfjob) sends all of it but the
// credentials and the hooks to a runner Job.
type Workspace struct {
	Object tfstate.ObjectRef
	// Module is the module's file tree (an fs.Sub of the embedded modules, or a tree read from
	// a user's source): the root module and the local modules it calls, laid out as they call
	// each other (`source = "../label"`).
	Module fs.FS
	// ModuleDir is the root module's directory in Module (a slash path; "" or "." for the top).
	ModuleDir string
	// Variables are rendered to terraform.tfvars with hclwrite.
	Variables map[string]cty.Value
	// Sensitive names variables whose values must never appear in logs, errors or plan text.
	Sensitive []string
	// Env is the terraform process environment beyond the scrubbed minimum (credentials Secret keys).
	Env map[string]string
	// CredentialsSecret names the credentials Secret in the object's namespace in job mode, where
	// it reaches only the runner pod (as environment) and Env stays empty.
	CredentialsSecret string
	// OnRun, when set, is called right before terraform runs for this workspace (never for runs
	// answered without terraform); an error stops the run. The controllers use it to block
	// clusterctl move while a run is in flight (the annotation goes with the reconcile's outcome).
	OnRun func(ctx context.Context) error
	// OnProgress, when set, is told each change of an apply's or destroy's progress while
	// terraform runs (from the watcher of its output; the caller throttles).
	OnProgress func(Progress)
	// OnSuspectedOrphans, when set, is told what a dead run that held this object's lock was
	// creating and never recorded in state (reported once, by the run that takes the lock over).
	OnSuspectedOrphans func(ctx context.Context, o tfstate.SuspectedOrphans)
	// CheckInstalled, when set, checks the modules `terraform init` downloaded (remote
	// sources, known only then; the tree under .terraform/modules) before any plan or apply;
	// its error fails the run.
	CheckInstalled func(installed fs.FS) error
}

// Policy says what a Reconcile may do after planning.
type Policy struct {
	// AutoApply applies a plan with changes right away, unless it is destructive and AllowDestroy is false.
	AutoApply bool
	// AllowDestroy lets AutoApply apply plans that delete or replace resources.
	AllowDestroy bool
	// ApproveDigest applies the saved plan with exactly this digest (if inputs and state still match).
	ApproveDigest string
	// Force plans even when the inputs hash matches the last applied one (drift checks, previews).
	Force bool
	// PreviewToken names the plan-preview a forced plan answers. A saved plan that still matches
	// and already answered this token is reported instead of planning again, so a reconcile that
	// sees a stale copy of the object does not replace the plan the user is reviewing.
	PreviewToken string
	// NoRecreate refuses a plan that creates again what was deleted outside Terraform (a
	// machine's instance: CAPI replaces the Machine instead). Such a plan is neither applied nor
	// saved; the run returns *GoneError, and the object's next run plans again rather than
	// skipping, so the refusal holds until the resources are back or the object is deleted.
	NoRecreate bool
	// PlanPolicies judge every plan before it may be applied (package planpolicy). With any, a
	// first apply plans first, and a denied plan is saved for review but never applied, not even
	// when approved; a plan judged by other policies is planned and judged again.
	PlanPolicies []planpolicy.Set `json:"planPolicies,omitempty"`
}

// unplanned reports whether an apply may go without a plan first (an object's first apply in
// auto mode, when no plan policy has to judge it).
func (p Policy) unplanned() bool {
	return p.AutoApply && !p.Force && p.ApproveDigest == "" && len(p.PlanPolicies) == 0
}

// Action classifies one resource change.
type Action string

const (
	ActionCreate  Action = "create"
	ActionUpdate  Action = "update"
	ActionDelete  Action = "delete"
	ActionReplace Action = "replace"
	ActionRead    Action = "read"
)

// ResourceChange is one planned change, without values.
type ResourceChange struct {
	Address string `json:"address"`
	Action  Action `json:"action"`
}

// PlanSummary counts a plan's changes; it never carries attribute values.
type PlanSummary struct {
	Add       int              `json:"add"`
	Change    int              `json:"change"`
	Destroy   int              `json:"destroy"`
	Replace   int              `json:"replace"`
	Resources []ResourceChange `json:"resources,omitempty"`
	// OutputsChanged is true when root module outputs change (even without resource changes).
	OutputsChanged bool `json:"outputsChanged,omitempty"`
	// ReplaceTainted counts the replacements (included in Replace) of resources terraform marked
	// tainted: a create interrupted or failed half-way, which the replacement completes.
	ReplaceTainted int `json:"replaceTainted,omitempty"`
	// Gone lists the resources the plan's refresh found deleted outside Terraform and the plan
	// creates again.
	Gone []string `json:"gone,omitempty"`
}

// HasChanges reports whether applying the plan would change anything.
func (s PlanSummary) HasChanges() bool {
	return s.Add+s.Change+s.Destroy+s.Replace > 0 || s.OutputsChanged
}

// Destructive reports whether the plan deletes or replaces anything that was fully created.
// Replacing a tainted resource finishes a create that never completed (e.g. interrupted by a
// manager shutdown), so it does not wait for approval on its own.
func (s PlanSummary) Destructive() bool { return s.Destroy+s.Replace-s.ReplaceTainted > 0 }

// Output is one module output as terraform reports it.
type Output struct {
	Value     json.RawMessage `json:"value"`
	Sensitive bool            `json:"sensitive"`
}

// Result is what one Reconcile did.
type Result struct {
	// Skipped is true when the inputs hash matched the applied one and no terraform process ran.
	Skipped bool
	// Applied is true when a plan was applied in this call.
	Applied bool
	// Plan is the summary of the plan made in this call (nil when Skipped).
	Plan *PlanSummary
	// PlanDigest identifies the saved plan (sha256 of the planfile) when one awaits approval.
	PlanDigest string
	// PlanText is the redacted `terraform show` text of the plan awaiting approval (also stored
	// in the plan Secret under plan.txt for kubectl users).
	PlanText string
	// PendingApproval is true when a plan with changes was saved but not applied.
	PendingApproval bool
	// InputsHash is sha256(variables + module digest + terraform version).
	InputsHash string
	// StateSerial is the serial of the state now in the store.
	StateSerial int64
	// Outputs are the module outputs from the current state (also filled when Skipped).
	Outputs map[string]Output
	// PlannedOutputs are the outputs as the plan of this call (or the pending plan reported)
	// leaves them: the refreshed world, before any apply. Nil when no plan was made; outputs
	// known only after apply are absent.
	PlannedOutputs map[string]Output
	// Policy is the plan policies' verdict on the plan made, applied or reported (nil without
	// plan policies or plan).
	Policy *planpolicy.Verdict
	// FinishedAt is when the call returned.
	FinishedAt time.Time
}
