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
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

// applySaved applies exactly the saved planfile.
func (r *Runner) applySaved(ctx context.Context, rn *run, st *tfstate.StoredState, saved *savedPlan, res Result) (Result, error) {
	if err := r.prepare(ctx, rn, st); err != nil {
		return res, err
	}
	defer rn.freeSlot()
	res.Plan, res.PlanDigest, res.Policy = &saved.Summary, saved.Digest, saved.Verdict
	if err := os.WriteFile(filepath.Join(rn.dir, planFile), saved.Planfile, 0o600); err != nil {
		return res, fmt.Errorf("restoring saved plan: %w", err)
	}
	return r.apply(ctx, rn, res, true)
}

// applyFresh creates an object's infrastructure from a state without resources with a single
// `terraform apply` (no separate plan and show). Nothing in state means nothing can be deleted or
// replaced, so the destructive guard has nothing to hold, and in auto mode nobody reviews the
// plan. The summary is what the apply created, read from the resulting state (see apply).
func (r *Runner) applyFresh(ctx context.Context, rn *run, st *tfstate.StoredState, res Result) (Result, error) {
	if err := r.prepare(ctx, rn, st); err != nil {
		return res, err
	}
	defer rn.freeSlot()
	return r.apply(ctx, rn, res, false)
}

// createdSummary lists every resource instance of a state as created.
func createdSummary(raw []byte) *PlanSummary {
	sum := &PlanSummary{OutputsChanged: true}
	for _, a := range tfstate.StateAddresses(raw) {
		sum.Add++
		sum.Resources = append(sum.Resources, ResourceChange{Address: a, Action: ActionCreate})
	}
	return sum
}

// apply applies the planfile in the workspace (planned) or the configuration directly, pushing
// state as it changes and once at the end whatever the outcome; the final push records the
// inputs hash only on success. Everything the process may create is journaled in the run's lease
// before it starts: the plan's creates, or without a plan every resource of the configuration. An
// unplanned apply's summary is what the resulting state holds, whatever the outcome.
func (r *Runner) apply(ctx context.Context, rn *run, res Result, planned bool) (Result, error) {
	may := plannedCreates(res.Plan)
	if !planned || len(may) < res.Plan.Add+res.Plan.Replace { // no plan, or its summary was cut short in the plan Secret
		var err error
		if may, err = r.configResources(rn); err != nil {
			return res, err
		}
	}
	if err := r.state.Journal(ctx, rn.lease, may...); err != nil {
		return res, err
	}
	opts := []tfexec.ApplyOption{tfexec.Lock(false)}
	if planned {
		opts = append(opts, tfexec.DirOrPlan(planFile))
	}
	stop := make(chan struct{})
	watched := r.watchState(ctx, rn, stop)
	steps := 0
	if planned {
		steps = plannedSteps(res.Plan)
	}
	endProgress := r.watchProgress(rn, "apply", steps)
	applyErr := r.observe(rn.ws.Object, "apply", func() error { return rn.tf.Apply(ctx, opts...) })
	rn.freeSlot() // terraform is done; the state watcher's last push and the final one need no slot
	endProgress()
	close(stop)
	<-watched
	w := tfstate.Version{}
	if applyErr == nil {
		w.InputsHash, w.AppliedPlan = rn.hash, res.PlanDigest
	}
	serial, pushErr := r.finalPush(ctx, rn, w)
	if pushErr == nil {
		r.trace(rn.ws.Object, StepStateWritten)
	}
	raw, _ := readLocalState(rn.dir)
	if !planned {
		res.Plan = createdSummary(raw)
		r.resolveOrphans(ctx, rn, plannedCreates(res.Plan))
	}
	if applyErr != nil {
		return res, errors.Join(newTerraformError(ctx, "apply", applyErr, rn.red), pushErr)
	}
	if pushErr != nil {
		return res, pushErr
	}
	res.Applied, res.StateSerial = true, serial
	outputs, err := outputsOf(raw)
	res.Outputs = outputs
	if err != nil {
		return res, err
	}
	if planned { // the applied plan is done with; a fresh apply ran because there was none
		if err := r.deletePlan(ctx, rn.ws.Object, rn.saved); err != nil {
			return res, err
		}
	}
	return res, nil
}

// configResources lists the journal patterns of the workspace's configuration, once per module.
func (r *Runner) configResources(rn *run) ([]string, error) {
	if v, ok := r.configs.Load(rn.digest); ok {
		return v.([]string), nil
	}
	may, err := configResources(rn.dir)
	if err != nil {
		return nil, fmt.Errorf("listing the resources the module may create: %w", err)
	}
	r.configs.Store(rn.digest, may)
	return may, nil
}

// finalPush writes the workspace state to the store with a context that survives cancellation:
// what terraform wrote before an interrupt must not be lost.
func (r *Runner) finalPush(ctx context.Context, rn *run, w tfstate.Version) (int64, error) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	raw, m := readLocalState(rn.dir)
	if m == nil {
		return 0, nil
	}
	w.Raw = raw
	serial, err := r.pushState(pctx, rn, w)
	if err != nil {
		return 0, fmt.Errorf("pushing final state: %w", err)
	}
	rn.pushed.Store(serial)
	return serial, nil
}

// pushState writes the run's state, starting from the primary Secret it last saw.
func (r *Runner) pushState(ctx context.Context, rn *run, w tfstate.Version) (int64, error) {
	w.InRun, w.NoBackup = true, rn.backedUp.Load()
	serial, written, err := r.state.Put(ctx, rn.ws.Object, w, rn.prim)
	rn.prim = nil
	if err == nil {
		rn.prim = &tfstate.Primary{Secret: written}
		rn.backedUp.Store(true)
	}
	return serial, err
}

// hasResources reports whether a stored state tracks any resource.
func hasResources(st *tfstate.StoredState) bool {
	if st == nil {
		return false
	}
	m, err := tfstate.ParseMeta(st.Raw)
	return err != nil || len(m.Resources) > 0 // unparsable: take the careful path
}
