/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

// Reconcile brings the object's infrastructure to the module + variables in ws, under policy p:
// lock, skip when nothing changed, otherwise plan and apply (or save the plan for approval).
func (r *Runner) Reconcile(ctx context.Context, ws Workspace, p Policy) (res Result, err error) {
	defer func() { res.FinishedAt, err = r.now(), r.hideErrPaths(err) }()
	rn, err := r.newRun(ws)
	if err != nil {
		return res, err
	}
	res.InputsHash = rn.hash
	r.trace(ws.Object, StepReconcile)
	if serial, outputs, ok := r.unchanged(ctx, rn, p); ok {
		res.Skipped, res.StateSerial, res.Outputs = true, serial, outputs
		r.cfg.Metrics.Skipped.Inc()
		return res, nil
	}
	runCtx, l, unlock, err := r.hold(ctx, ws.Object, r.firstJournal(rn, p)...)
	if err != nil {
		return res, err
	}
	defer unlock()
	rn.lease = l
	r.trace(ws.Object, StepLocked)
	type loaded struct {
		plan *savedPlan
		err  error
	}
	planc := make(chan loaded, 1) // the saved plan is read while the state is
	go func() { p, err := r.loadPlan(runCtx, ws.Object); planc <- loaded{p, err} }()
	st, err := r.recoverLocal(runCtx, rn)
	pl := <-planc
	if err != nil {
		return res, err
	}
	r.reportOrphans(runCtx, rn, l, st)
	defer r.flushOrphans(runCtx, rn)
	if st != nil {
		res.StateSerial = st.Serial
	}
	d := decide(p, rn.hash, st, pl.plan)
	if d.step != stepSkip && pl.err != nil {
		return res, pl.err
	}
	rn.saved = pl.plan
	switch d.step {
	case stepSkip:
		r.cfg.Metrics.Skipped.Inc()
		res.Skipped = true
		res.Outputs, err = outputsOf(st.Raw)
		return res, err
	case stepApplyFresh:
		return r.applyFresh(runCtx, rn, st, res)
	case stepApplySaved:
		return r.applySaved(runCtx, rn, st, rn.saved, res)
	case stepReportPending:
		saved := rn.saved
		res.Plan, res.PlanDigest, res.PendingApproval = &saved.Summary, saved.Digest, !saved.Verdict.Denied()
		res.PlanText, res.PlannedOutputs, res.Policy = saved.Text, saved.Outputs, saved.Verdict
		res.Outputs, err = outputsOf(stRaw(st))
		return res, errors.Join(err, staleOrNil(d.stale), deniedOrNil(saved.Digest, saved.Verdict))
	}
	if err := r.prepare(runCtx, rn, st); err != nil {
		return res, err
	}
	defer rn.freeSlot()
	return r.planAndMaybeApply(runCtx, rn, st, d.policy, res, staleOrNil(d.stale))
}

// staleOrNil keeps a nil *StalePlanError from becoming a non-nil error.
func staleOrNil(e *StalePlanError) error {
	if e == nil {
		return nil
	}
	return e
}

// firstJournal is what an object's first apply will journal (every resource of its module), when
// the state index says it has no state and policy will apply without a plan: written with the
// lease's creation, it saves that apply a lease update. A module not seen before (its resources
// are listed after init) or an object with state journals before its apply as usual. A run that
// ends without applying drops its lease, journal included; one killed before it starts terraform
// reports these resources as suspected orphans, as a kill just after the journal update would.
func (r *Runner) firstJournal(rn *run, p Policy) []string {
	if !p.unplanned() {
		return nil
	}
	if _, found, indexed := r.state.Indexed(rn.ws.Object); !indexed || found {
		return nil
	}
	if v, ok := r.configs.Load(rn.digest); ok {
		return v.([]string)
	}
	return nil
}

func (r *Runner) planAndMaybeApply(ctx context.Context, rn *run, st *tfstate.StoredState, p Policy, res Result, stale error) (Result, error) {
	var changed bool
	err := r.observe(rn.ws.Object, "plan", func() (err error) {
		changed, err = rn.tf.Plan(ctx, tfexec.Out(planFile), tfexec.Lock(false))
		return err
	})
	if err != nil {
		return res, newTerraformError(ctx, "plan", err, rn.red)
	}
	if !changed {
		rn.freeSlot()
		r.resolveOrphans(ctx, rn, nil) // the configuration wants nothing the state lacks
		res.Plan = &PlanSummary{}
		if err := r.state.SetApplied(ctx, rn.ws.Object, rn.hash, ""); err != nil {
			return res, err
		}
		if err := r.deletePlan(ctx, rn.ws.Object, rn.saved); err != nil {
			return res, err
		}
		res.Outputs, err = outputsOf(stRaw(st))
		return res, errors.Join(err, stale)
	}
	sum, planned, planJSON, err := r.showPlan(ctx, rn, len(p.PlanPolicies) > 0)
	if err != nil {
		return res, err
	}
	sum.OutputsChanged = sum.OutputsChanged || !sum.HasChanges()
	r.resolveOrphans(ctx, rn, plannedCreates(&sum))
	pf, err := os.ReadFile(filepath.Join(rn.dir, planFile))
	if err != nil {
		return res, fmt.Errorf("reading planfile: %w", err)
	}
	res.Plan, res.PlanDigest, res.PlannedOutputs = &sum, tfstate.SHA256Hex(pf), planned
	if p.NoRecreate && len(sum.Gone) > 0 {
		return r.refuseGone(ctx, rn, st, res)
	}
	if res.Policy, err = judge(ctx, p.PlanPolicies, planJSON); err != nil {
		return res, err
	}
	denied := deniedOrNil(res.PlanDigest, res.Policy)
	if denied == nil && stale == nil && p.AutoApply && (!sum.Destructive() || p.AllowDestroy) {
		return r.apply(ctx, rn, res, true)
	}
	serial, lineage := stateRef(st)
	// Human-readable plan for reviewers (one more process, only for plans that wait for a human).
	var text string
	err = r.observe(rn.ws.Object, "show", func() (err error) { text, err = rn.tf.ShowPlanFileRaw(ctx, planFile); return err })
	if err != nil {
		return res, newTerraformError(ctx, "show", err, rn.red)
	}
	res.PlanText = truncate(rn.red.redact(text), maxPlanText)
	rn.freeSlot() // no apply follows
	if err := r.savePlan(ctx, rn.ws.Object, savedPlan{Digest: res.PlanDigest, InputsHash: rn.hash,
		Serial: serial, Lineage: lineage, Planfile: pf, Summary: sum, Text: res.PlanText, Preview: p.PreviewToken, Outputs: planned,
		Verdict: res.Policy}, rn.saved); err != nil {
		return res, err
	}
	res.PendingApproval = denied == nil
	res.Outputs, err = outputsOf(stRaw(st))
	return res, errors.Join(err, stale, denied)
}

// refuseGone answers a plan that would create again what was deleted outside Terraform, under
// Policy.NoRecreate: nothing is applied or saved, and the applied inputs hash is cleared so the
// next run plans (and finds the resources gone) instead of skipping on the old outputs.
func (r *Runner) refuseGone(ctx context.Context, rn *run, st *tfstate.StoredState, res Result) (Result, error) {
	applied := ""
	if st != nil {
		applied = st.AppliedPlan
	}
	err := r.state.SetApplied(ctx, rn.ws.Object, "", applied)
	outs, oerr := outputsOf(stRaw(st))
	res.Outputs = outs
	return res, errors.Join(&GoneError{Addresses: res.Plan.Gone}, err, oerr)
}

func stRaw(st *tfstate.StoredState) []byte {
	if st == nil {
		return nil
	}
	return st.Raw
}

// Destroy destroys everything in the object's state, then deletes its state, plan and lock
// objects. Without state (or with no resources in it) no terraform process runs.
func (r *Runner) Destroy(ctx context.Context, ws Workspace) (err error) {
	defer func() { err = r.hideErrPaths(err) }()
	rn, err := r.newRun(ws)
	if err != nil {
		return err
	}
	runCtx, l, unlock, err := r.hold(ctx, ws.Object)
	if err != nil {
		return err
	}
	defer unlock()
	rn.lease = l
	st, err := r.recoverLocal(runCtx, rn)
	if err != nil {
		return err
	}
	r.reportOrphans(runCtx, rn, l, st)
	defer r.flushOrphans(runCtx, rn)
	if st != nil {
		m, err := tfstate.ParseMeta(st.Raw)
		if err != nil {
			return fmt.Errorf("destroy: %w", err)
		}
		if len(m.Resources) > 0 {
			if err := r.destroyResources(runCtx, rn, st); err != nil {
				return err
			}
		}
	}
	return r.deleteAll(runCtx, ws.Object, false)
}

func (r *Runner) destroyResources(ctx context.Context, rn *run, st *tfstate.StoredState) error {
	if err := r.prepare(ctx, rn, st); err != nil {
		return err
	}
	defer rn.freeSlot()
	stop := make(chan struct{})
	watched := r.watchState(ctx, rn, stop)
	endProgress := r.watchProgress(rn, "destroy", 0)
	derr := r.observe(rn.ws.Object, "destroy", func() error { return rn.tf.Destroy(ctx, tfexec.Lock(false)) })
	rn.freeSlot()
	endProgress()
	close(stop)
	<-watched
	_, pushErr := r.finalPush(ctx, rn, tfstate.Version{})
	if derr != nil {
		return errors.Join(newTerraformError(ctx, "destroy", derr, rn.red), pushErr)
	}
	return pushErr
}

// DeleteState drops the object's state, plan and lock objects and workspace without destroying
// anything (orphan on delete, clusterctl move).
func (r *Runner) DeleteState(ctx context.Context, obj tfstate.ObjectRef) error {
	return r.deleteAll(ctx, obj, true)
}

func (r *Runner) deleteAll(ctx context.Context, obj tfstate.ObjectRef, withLock bool) error {
	if err := r.state.DeleteAll(ctx, obj, withLock); err != nil {
		return err
	}
	dir := r.workspaceDir(obj)
	r.tfs.Range(func(k, _ any) bool { // the workspace's run dir may be a subdirectory (a module tree)
		if p := k.(string); p == dir || strings.HasPrefix(p, dir+string(filepath.Separator)) {
			r.tfs.Delete(k)
		}
		return true
	})
	r.memo.Delete(tfstate.BaseName(obj))
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing workspace: %w", err)
	}
	return nil
}
