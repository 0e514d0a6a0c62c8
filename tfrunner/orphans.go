/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"context"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

// plannedCreates lists the addresses a plan creates (replacements included).
func plannedCreates(s *PlanSummary) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, rc := range s.Resources {
		if rc.Action == ActionCreate || rc.Action == ActionReplace {
			out = append(out, rc.Address)
		}
	}
	return out
}

// reportOrphans tells the workspace's owner (and the log and metrics) what a dead run left: its
// concrete addresses missing from state at once, its patterns once this run knows what it creates
// (resolveOrphans) or, failing that, as they are when the run ends (flushOrphans). The inherited
// journal stays in the lease until this run releases it: events are sent asynchronously, and a
// crash before then must lead to a second report rather than none.
func (r *Runner) reportOrphans(ctx context.Context, rn *run, l *tfstate.Lease, st *tfstate.StoredState) {
	o, patterns := tfstate.SplitOrphans(l.Inherited(), st)
	if len(patterns) > 0 {
		rn.orphanPatterns = &tfstate.SuspectedOrphans{Holder: l.Inherited().Holder, RunID: l.Inherited().RunID, Addresses: patterns}
	}
	r.tellOrphans(ctx, rn, o)
}

// resolveOrphans reports the addresses this run creates (plans to, or did) that a dead run's
// patterns cover: the dead run may have created them already.
func (r *Runner) resolveOrphans(ctx context.Context, rn *run, creates []string) {
	p := rn.orphanPatterns
	if p == nil {
		return
	}
	rn.orphanPatterns = nil
	o := *p
	if o.Addresses = tfstate.ResolvePatterns(p.Addresses, creates); len(o.Addresses) > 0 {
		r.tellOrphans(ctx, rn, &o)
	}
}

// flushOrphans reports patterns the run never resolved, as patterns.
func (r *Runner) flushOrphans(ctx context.Context, rn *run) {
	if p := rn.orphanPatterns; p != nil {
		rn.orphanPatterns = nil
		r.tellOrphans(ctx, rn, p)
	}
}

func (r *Runner) tellOrphans(ctx context.Context, rn *run, o *tfstate.SuspectedOrphans) {
	if o == nil || len(o.Addresses) == 0 {
		return
	}
	r.cfg.Logger.Info("interrupted run left suspected orphans", "object", rn.ws.Object.Name,
		"previousHolder", o.Holder, "previousRun", o.RunID, "addresses", o.Addresses)
	r.cfg.Metrics.SuspectedOrphans.Add(float64(len(o.Addresses)))
	if rn.ws.OnSuspectedOrphans != nil {
		rn.ws.OnSuspectedOrphans(ctx, *o)
	}
}
