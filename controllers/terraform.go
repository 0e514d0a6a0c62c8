/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/record"
	clusterctlv1 "sigs.k8s.io/cluster-api/cmd/clusterctl/api/v1alpha3"
	"sigs.k8s.io/cluster-api/util/conditions"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/modulecheck"
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfjob"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

// lockedRequeue is how soon an object whose state lock is held elsewhere is retried.
const lockedRequeue = 15 * time.Second

// base holds what both reconcilers share.
type base struct {
	Client    client.Client
	APIReader client.Reader // uncached reads of Secrets, so the manager does not cache every Secret
	Sources   client.Reader // the informer cache: Flux sources, read as unstructured objects
	Recorder  record.EventRecorder
	Runner    Runner
	Options   Options
	now       func() time.Time
	stale     *staleGuard  // versions of objects this reconciler wrote over (see patcher)
	limits    apiLimits    // the API's limits outputs are checked against
	pids      *providerIDs // providerIDs being written by this process
	// policyCache caches the provider's namespace (plan policy ConfigMaps); policyConfigMaps
	// reads it (a plain reader in unit tests).
	policyCache      cache.Cache
	policyConfigMaps client.Reader
}

func (b *base) clock() time.Time {
	if b.now != nil {
		return b.now()
	}
	return time.Now()
}

// object is a CustomCluster or CustomMachine.
type object interface {
	client.Object
	conditions.Setter
}

// runInput is one object's terraform run, already rendered from its spec.
type runInput struct {
	obj       object
	patch     *patcher // the reconcile's writer: the run-start metadata goes through it
	ref       tfstate.ObjectRef
	kind      string // module kind: cluster or machine
	spec      infrav1.TerraformSpec
	status    **infrav1.TerraformStatus
	handled   *string // status.lastHandledReconcileAt
	vars      variables
	sensitive []string
	// noRecreate: what was deleted outside Terraform is reported, never created again (machines).
	noRecreate bool
}

// prepared is an object's run, ready: its workspace, what its module is called
// (status.terraform.moduleRevision) and the rules of its namespace.
type prepared struct {
	ws       tfrunner.Workspace
	revision string
	tenant   tenant
}

// workspace resolves the module and credentials under the namespace's rules; failures set
// ModuleValid or Ready with a reason.
func (b *base) workspace(ctx context.Context, in runInput) (prepared, bool) {
	t, err := b.tenant(ctx, in.obj.GetNamespace())
	var mod checkedModule
	if err == nil {
		mod, err = b.module(ctx, in, t) // resolution, the module rules and the contract check
	}
	if err != nil {
		b.moduleRefused(in.obj, err)
		return prepared{}, false
	}
	b.moduleValid(in.obj, mod.warnings)
	var env map[string]string
	if !b.Options.JobMode { // in job mode the Secret reaches the runner pod only
		env, err = credentialsEnv(ctx, movableReader{b.APIReader, b}, in.obj.GetNamespace(), in.spec.CredentialsRef)
	}
	if err != nil {
		reason := infrav1.CredentialsNotFoundReason
		if envErr := (*tfrunner.EnvError)(nil); errors.As(err, &envErr) {
			reason = infrav1.CredentialsInvalidReason
		}
		setNotReady(in.obj, reason, "%v", err)
		b.Recorder.Eventf(in.obj, corev1.EventTypeWarning, reason, "%v", err)
		return prepared{}, false
	}
	ws := tfrunner.Workspace{Object: in.ref, Module: mod.tree.FS, ModuleDir: mod.tree.Root, Variables: mod.vars, Sensitive: in.sensitive, Env: env,
		OnRun: b.blockMove(in.obj, in.patch), OnSuspectedOrphans: b.reportOrphans(in.obj), OnProgress: b.progress(ctx, in),
		CheckInstalled: mod.checkInstalled}
	if b.Options.JobMode && in.spec.CredentialsRef != nil {
		ws.CredentialsSecret = in.spec.CredentialsRef.Name
	}
	return prepared{ws: ws, revision: mod.revision, tenant: t}, true
}

// moduleRefused says why a module cannot run: ModuleValid=False and Ready=False, with reason
// NotAllowed for the module policy and Invalid otherwise, and a Warning event.
func (b *base) moduleRefused(obj object, err error) {
	reason := infrav1.ModuleInvalidReason
	if pe := (*modulecheck.PolicyError)(nil); errors.As(err, &pe) {
		reason = infrav1.ModuleNotAllowedReason
	}
	if se := (*SourceNotReadyError)(nil); errors.As(err, &se) {
		reason = infrav1.SourceNotReadyReason
	}
	if re := (*RulesError)(nil); errors.As(err, &re) {
		reason = infrav1.PolicyInvalidReason
	}
	setCondition(obj, infrav1.ModuleValidCondition, false, reason, "%v", err)
	setNotReady(obj, reason, "module: %v", err)
	b.Recorder.Eventf(obj, corev1.EventTypeWarning, reason, "module: %v", err)
}

// moduleValid sets ModuleValid=True, naming the contract check's warnings (a spec.variables key
// that a contract variable shadows, a missing optional output); a Warning event tells them once,
// when they first appear or change, not on every reconcile.
func (b *base) moduleValid(obj object, warnings []modulecheck.Problem) {
	if len(warnings) == 0 {
		setCondition(obj, infrav1.ModuleValidCondition, true, infrav1.ModuleValidReason, "")
		return
	}
	s := make([]string, len(warnings))
	for i, w := range warnings {
		s[i] = w.String()
	}
	msg := fmt.Sprintf("module passes the contract check with %d warning(s): %s", len(s), strings.Join(s, "; "))
	if messageChanged(obj, infrav1.ModuleValidCondition, msg) {
		b.Recorder.Eventf(obj, corev1.EventTypeWarning, infrav1.ModuleWarningsReason, "%s", msg)
	}
	setCondition(obj, infrav1.ModuleValidCondition, true, infrav1.ModuleWarningsReason, "%s", msg)
}

// reportOrphans tells the user what a crashed run may have left in the cloud, untracked.
func (b *base) reportOrphans(obj object) func(context.Context, tfstate.SuspectedOrphans) {
	return func(ctx context.Context, o tfstate.SuspectedOrphans) {
		ctrl.LoggerFrom(ctx).Info("Suspected orphaned resources", "addresses", o.Addresses, "previousHolder", o.Holder, "previousRun", o.RunID)
		b.Recorder.Eventf(obj, corev1.EventTypeWarning, infrav1.SuspectedOrphanReason, "%s", o)
	}
}

// run plans (and, as policy allows, applies) the object's module and records the outcome in
// status and conditions. ok is true when the infrastructure matches the spec and outputs are current.
func (b *base) run(ctx context.Context, in runInput) (res tfrunner.Result, ok bool, result ctrl.Result, err error) {
	if err := annotationProblem(in.obj.GetAnnotations()); err != nil {
		setNotReady(in.obj, infrav1.InvalidSpecReason, "%v", err)
		b.Recorder.Eventf(in.obj, corev1.EventTypeWarning, infrav1.InvalidSpecReason, "%v", err)
		return res, false, ctrl.Result{}, nil
	}
	// A new reconcile.fluxcd.io/requestedAt is handled by this reconcile, whatever its outcome.
	requested := in.obj.GetAnnotations()[infrav1.ReconcileRequestAnnotation]
	asked := requested != "" && in.handled != nil && requested != *in.handled
	if asked {
		*in.handled = requested
	}
	pr, valid := b.workspace(ctx, in)
	if !valid { // a module or credentials Secret that may be fixed without touching the object
		return res, false, b.waitRequeue(in.obj), nil
	}
	plans, err := b.planPolicies(ctx, pr.tenant)
	if err != nil { // a policy to fix, or a source to wait for: watched, never passed unjudged
		b.policyRefused(in.obj, err)
		return res, false, b.waitRequeue(in.obj), nil
	}
	// A block-move annotation seen here was left by a run that never finished (a crash): no run
	// is in flight for this object now, so the patch helper drops it.
	delete(in.obj.GetAnnotations(), clusterctlv1.BlockMoveAnnotation)
	ts := *in.status
	policy, token, drift, preview := b.runPolicy(in, asked, plans)
	prevHash := ""
	if ts != nil {
		prevHash = ts.AppliedInputsHash
	}

	res, err = b.Runner.Reconcile(ctx, pr.ws, policy)
	// Drift is a change a refresh plan (drift check, request or preview) found while the inputs stayed
	// what was last applied.
	drifted := (drift || preview) && res.Plan != nil && res.Plan.HasChanges() && res.InputsHash == prevHash
	if err != nil {
		return b.runFailed(ctx, in, res, token, drifted, err)
	}
	if res.Skipped && savedPlanStands(ts, &res) {
		return res, false, ctrl.Result{}, nil
	}
	b.policyVerdict(in.obj, res.Policy, len(plans) > 0)
	ts = recordRun(ts, res, token, b.clock())
	if drift {
		ts.LastDriftCheckTime = ts.LastRunTime
	}
	*in.status = ts
	if res.Applied && policy.ApproveDigest != "" && policy.ApproveDigest == res.PlanDigest {
		// The approval is consumed: left in place it would read as a stale approval of every
		// later plan.
		delete(in.obj.GetAnnotations(), infrav1.ApprovePlanAnnotation)
	}
	plansAwaitingApproval.mark(in.ref, res.PendingApproval)
	failingObjects.mark(in.ref, false)
	if res.PendingApproval {
		b.recordPending(in, res, drifted)
		return res, false, ctrl.Result{}, nil
	}
	setCondition(in.obj, infrav1.PlanApprovedCondition, true, infrav1.ApprovedReason, "")
	if res.Applied {
		b.Recorder.Eventf(in.obj, corev1.EventTypeNormal, "Applied", "Applied plan: %s", planText(*res.Plan))
	}
	if drifted {
		b.Recorder.Eventf(in.obj, corev1.EventTypeNormal, "DriftCorrected", "Drift corrected: %s", planText(*res.Plan))
	}
	setCondition(in.obj, infrav1.InSyncCondition, true, infrav1.InSyncReason, "")
	driftedObjects.mark(in.ref, false)
	ts.ModuleRevision = pr.revision // the module now in use
	if err := b.publishOutputs(ctx, in, res.Outputs); err != nil {
		var bad *outputsError
		if !errors.As(err, &bad) {
			return res, false, ctrl.Result{}, err
		}
		b.refuseOutputs(in.obj, err)
		return res, false, ctrl.Result{}, nil
	}
	return res, true, ctrl.Result{RequeueAfter: b.driftRequeue()}, nil
}

// savedPlanStands reports whether the saved plan in status still stands after a run that skipped:
// a plan made from these very inputs (a drift plan) still waits or stays denied (the runner's
// no-op fast path does not read the plan Secret, and must not read as "in sync" over it). A
// denied plan of other inputs no longer stands: the spec went back to what was applied.
func savedPlanStands(ts *infrav1.TerraformStatus, res *tfrunner.Result) bool {
	if ts == nil || ts.LastRunResult != infrav1.RunPendingApproval && ts.LastRunResult != infrav1.RunDenied {
		return false
	}
	if ts.Plan != nil && ts.Plan.InputsHash == res.InputsHash {
		return true
	}
	if ts.LastRunResult == infrav1.RunDenied {
		ts.LastRunResult = infrav1.RunSkipped
		res.Policy = &planpolicy.Verdict{} // nothing to judge: PolicyPassed again
	}
	return false
}

// runPolicy is what this reconcile's run may do: the approval mode and annotations, a drift
// check (or a requested reconcile, which plans afresh as one does) or a preview due, the plan
// policies. token is the plan-preview annotation.
func (b *base) runPolicy(in runInput, asked bool, plans []planpolicy.Set) (p tfrunner.Policy, token string, drift, preview bool) {
	ts := *in.status
	token = in.obj.GetAnnotations()[infrav1.PlanPreviewAnnotation]
	drift = b.driftDue(ts) || asked
	p = policyFor(in.obj.GetAnnotations(), b.Options.ApprovalMode)
	p.NoRecreate = in.noRecreate
	p.PlanPolicies = plans
	preview = token != "" && (ts == nil || ts.Plan == nil || ts.Plan.PreviewToken != token)
	p.Force = drift || preview
	if preview {
		p.PreviewToken = token
	}
	if ts == nil || ts.LastRunResult != infrav1.RunPendingApproval {
		p.ApproveDigest = "" // an approval only ever applies a pending plan
	}
	return p, token, drift, preview
}

// runFailed turns a runner error into conditions, events and a requeue.
func (b *base) runFailed(ctx context.Context, in runInput, res tfrunner.Result, token string, drifted bool, err error) (tfrunner.Result, bool, ctrl.Result, error) {
	var locked *tfstate.LockedError
	var stale *tfrunner.StalePlanError
	var policy *modulecheck.PolicyError
	var job *tfjob.RunningError
	var gone *tfrunner.GoneError
	var denied *tfrunner.PolicyDeniedError
	switch {
	case errors.As(err, &denied): // saved for review, never applied: a spec or policy change plans again
		if ts := *in.status; ts == nil || ts.LastRunResult != infrav1.RunDenied || ts.Plan == nil || ts.Plan.Digest != res.PlanDigest {
			ts = recordRun(ts, res, token, b.clock()) // a new denial; the same one again writes nothing
			ts.LastRunResult = infrav1.RunDenied
			*in.status = ts
		}
		plansAwaitingApproval.mark(in.ref, false)
		b.policyDenied(in.obj, denied.Error(), &denied.Verdict)
		return res, false, ctrl.Result{}, nil
	case errors.As(err, &gone): // Policy.NoRecreate: a machine's instance was deleted out of band
		b.instanceLost(in.obj, infrav1.InstanceTerminatedReason, "%v; a Machine's infrastructure is never created again: "+
			"remediation (or deleting the Machine) replaces it, and the delete destroys what remains", gone)
		failingObjects.mark(in.ref, false)
		return res, false, ctrl.Result{RequeueAfter: b.driftRequeue()}, nil
	case errors.As(err, &policy): // a downloaded (remote) module the policy refuses
		b.moduleRefused(in.obj, policy)
		return res, false, b.waitRequeue(in.obj), nil
	case errors.As(err, &job):
		inJob(in.obj, job)
		return res, false, ctrl.Result{RequeueAfter: jobRequeue}, nil
	case errors.As(err, &locked):
		ctrl.LoggerFrom(ctx).Info("State is locked, retrying later", "holder", locked.Holder)
		setCondition(in.obj, infrav1.InfrastructureProvisionedCondition, false, infrav1.LockedReason, "%v", err)
		return res, false, ctrl.Result{RequeueAfter: lockedRequeue}, nil
	case errors.As(err, &stale):
		// The approval was refused; the pending plan (or a fresh one) is the one to approve.
		b.Recorder.Eventf(in.obj, corev1.EventTypeWarning, infrav1.StalePlanReason, "%v", stale)
		*in.status = recordRun(*in.status, res, token, b.clock())
		if res.PendingApproval {
			b.recordPending(in, res, drifted)
		}
		setCondition(in.obj, infrav1.PlanApprovedCondition, false, infrav1.StalePlanReason,
			"%v; approve the pending plan instead: %s", stale, approveCommand(in.ref.Kind, in.ref.Namespace, in.ref.Name, res.PlanDigest))
		return res, false, ctrl.Result{}, nil
	}
	reason := infrav1.ProvisioningFailedReason
	if timedOut(err) {
		reason = infrav1.RunTimedOutReason
	}
	if se := (*tfrunner.SandboxError)(nil); errors.As(err, &se) {
		reason = infrav1.SandboxUnavailableReason
	}
	setNotReady(in.obj, reason, "%v", err)
	b.Recorder.Eventf(in.obj, corev1.EventTypeWarning, reason, "%v", err)
	failingObjects.mark(in.ref, true)
	if ts := *in.status; ts != nil {
		ts.LastRunResult = infrav1.RunFailed
	}
	return res, false, ctrl.Result{}, fmt.Errorf("running terraform for %s %s: %w", in.ref.Kind, in.ref.Name, err)
}

// instanceLost reports a machine whose instance is gone or unhealthy: Ready=False (which CAPI
// mirrors onto the Machine, where a MachineHealthCheck can act on it) and a Warning event when
// the reason first appears.
func (b *base) instanceLost(obj object, reason, msgFmt string, args ...any) {
	if prev := conditions.Get(obj, infrav1.ReadyCondition); prev == nil || prev.Reason != reason {
		b.Recorder.Eventf(obj, corev1.EventTypeWarning, reason, msgFmt, args...)
	}
	setNotReady(obj, reason, msgFmt, args...)
}

// sandboxNote is the Ready message of a provisioned object whose terraform ran unsandboxed
// although the operator asked for a sandbox where possible (best-effort on a kernel without
// Landlock): the object's owner learns that its runs are not isolated.
func (b *base) sandboxNote() string {
	s := b.Options.Sandbox
	if s.Enabled || s.Mode != tfrunner.SandboxBestEffort {
		return ""
	}
	return s.String()
}

// recordPending tells the user a plan waits and exactly how to approve it.
func (b *base) recordPending(in runInput, res tfrunner.Result, drifted bool) {
	summary := planText(*res.Plan)
	cmd := approveCommand(in.ref.Kind, in.ref.Namespace, in.ref.Name, res.PlanDigest)
	setCondition(in.obj, infrav1.PlanApprovedCondition, false, infrav1.AwaitingApprovalReason,
		"plan %s awaits approval (%s): %s", short(res.PlanDigest), summary, cmd)
	if drifted {
		setCondition(in.obj, infrav1.InSyncCondition, false, infrav1.DriftedReason, "drift detected: %s", summary)
		driftedObjects.mark(in.ref, true)
		b.Recorder.Eventf(in.obj, corev1.EventTypeWarning, "DriftDetected", "Drift detected: %s", summary)
	}
	if !conditions.IsTrue(in.obj, infrav1.ReadyCondition) {
		setNotReady(in.obj, infrav1.AwaitingApprovalReason, "plan awaits approval (%s)", summary)
	}
	b.Recorder.Eventf(in.obj, corev1.EventTypeNormal, infrav1.AwaitingApprovalReason, "Plan %s (%s) awaits approval: %s", short(res.PlanDigest), summary, cmd)
}

func short(digest string) string {
	if len(digest) > 12 {
		return digest[:12]
	}
	return digest
}

// driftDue reports whether the jittered drift-check interval has passed since the last check.
func (b *base) driftDue(ts *infrav1.TerraformStatus) bool {
	if b.Options.DriftCheckInterval <= 0 || ts == nil || ts.LastRunResult == infrav1.RunPendingApproval {
		return false
	}
	last := ts.LastDriftCheckTime
	if last == nil {
		last = ts.LastRunTime
	}
	return last == nil || b.clock().Sub(last.Time) >= b.Options.DriftCheckInterval
}

// driftRequeue schedules the next drift check with up to 10% jitter so checks spread out.
func (b *base) driftRequeue() time.Duration {
	if b.Options.DriftCheckInterval <= 0 {
		return 0
	}
	d := b.Options.DriftCheckInterval
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// release drops the object's state without destroying anything (move or orphan-on-delete).
func (b *base) release(ctx context.Context, obj object, ref tfstate.ObjectRef, why string) error {
	if err := b.Runner.DeleteState(ctx, ref); err != nil {
		return fmt.Errorf("releasing state of %s %s: %w", ref.Kind, ref.Name, err)
	}
	b.Recorder.Eventf(obj, corev1.EventTypeNormal, "Released", "State released without destroy: %s", why)
	forget(ref)
	return nil
}

// destroy runs terraform destroy; a failure keeps the finalizer and says why.
func (b *base) destroy(ctx context.Context, in runInput) (bool, error) {
	pr, valid := b.workspace(ctx, in)
	if !valid {
		// Without state nothing was created: the object goes even though its module (a deleted
		// ConfigMap or source, an invalid tree) or credentials cannot be had any more.
		if has, err := b.Runner.HasState(ctx, in.ref); err != nil || has {
			return false, fmt.Errorf("cannot destroy %s %s: module or credentials unavailable (restore them, or set the %s annotation to leave the resources)",
				in.ref.Kind, in.ref.Name, infrav1.OrphanOnDeleteAnnotation)
		}
		if err := b.Runner.DeleteState(ctx, in.ref); err != nil {
			return false, fmt.Errorf("cleaning up %s %s: %w", in.ref.Kind, in.ref.Name, err)
		}
		forget(in.ref)
		return true, nil
	}
	if err := b.Runner.Destroy(ctx, pr.ws); err != nil {
		var locked *tfstate.LockedError
		var job *tfjob.RunningError
		if errors.As(err, &job) {
			inJob(in.obj, job)
			return false, nil
		}
		if errors.As(err, &locked) {
			setCondition(in.obj, infrav1.ReadyCondition, false, infrav1.LockedReason, "%v", err)
			return false, nil
		}
		reason, format := infrav1.DeletionFailedReason, "destroy failed, will retry: %v"
		if timedOut(err) {
			reason, format = infrav1.RunTimedOutReason, "%v; will retry"
		}
		setCondition(in.obj, infrav1.ReadyCondition, false, reason, format, err)
		b.Recorder.Eventf(in.obj, corev1.EventTypeWarning, reason, format, err)
		failingObjects.mark(in.ref, true)
		return false, fmt.Errorf("destroying %s %s: %w", in.ref.Kind, in.ref.Name, err)
	}
	b.Recorder.Eventf(in.obj, corev1.EventTypeNormal, "Destroyed", "Terraform resources destroyed")
	forget(in.ref)
	return true, nil
}

// jobRequeue is how often an object whose run is in a Job checks on it, besides the Job watch.
const jobRequeue = 10 * time.Second

// inJob records a run in flight in a runner Job: the block-move annotation stays until the
// Job's result is read, and an object not provisioned yet says where it is being provisioned (a
// provisioned one keeps its conditions through a drift check or an update).
func inJob(obj object, job *tfjob.RunningError) {
	if !conditions.IsTrue(obj, infrav1.InfrastructureProvisionedCondition) {
		setCondition(obj, infrav1.InfrastructureProvisionedCondition, false, infrav1.ProvisioningReason, "%v", job)
	}
	markRunInFlight(obj)
}

// timedOut reports whether a run was interrupted by --run-timeout.
func timedOut(err error) bool {
	var t *tfrunner.RunTimeoutError
	return errors.As(err, &t)
}
