package tfrunner

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// The run journal lives in the run's lock Lease: everything a terraform process may create, written
// before the process starts (a plan's creates, or for a one-process apply every resource of the
// configuration as patterns). A run killed before it records a created resource in state leaves
// the journal behind with its lease, and the run that takes the lease over reports what is still
// missing from state (suspected orphans): nothing a crash may have left untracked in the cloud
// goes unreported, whenever the kill lands.

// SuspectedOrphans is what an interrupted run left: resources it may have created that are not in
// state. Addresses may hold patterns ("[*]": any instance key) when the successor had nothing to
// resolve them against.
type SuspectedOrphans struct {
	Holder, RunID string
	Addresses     []string
}

func (o SuspectedOrphans) String() string {
	return fmt.Sprintf("run %s of %s was interrupted; it may have created %s; not in the state, it may exist "+
		"in the cloud untracked: find it (e.g. by its tags) and import or delete it",
		o.RunID, o.Holder, strings.Join(o.Addresses, ", "))
}

// journal records addresses (or patterns) in the lease before terraform may create them; an error
// means the journal does not hold them and terraform must not start.
func (r *Runner) journal(ctx context.Context, l *lease, addrs ...string) error {
	if l == nil || len(addrs) == 0 {
		return nil
	}
	err := l.update(ctx, r, func(a map[string]string) bool {
		var cur []string
		_ = json.Unmarshal([]byte(a[AnnCreating]), &cur)
		n := len(cur)
		for _, addr := range addrs {
			if !slices.Contains(cur, addr) {
				cur = append(cur, addr)
			}
		}
		if len(cur) == n {
			return false
		}
		b, _ := json.Marshal(cur)
		a[AnnCreating] = string(b)
		return true
	})
	if err != nil {
		return fmt.Errorf("recording what terraform may create in the run journal: %w", err)
	}
	return nil
}

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

// splitOrphans compares what a dead run journaled with the (recovered) state: the concrete
// addresses missing from state are suspected orphans now; patterns wait to be resolved against
// what the successor creates (instances the configuration wants and the state lacks).
func splitOrphans(inherited *SuspectedOrphans, st *StoredState) (now *SuspectedOrphans, patterns []string) {
	if inherited == nil || len(inherited.Addresses) == 0 {
		return nil, nil
	}
	have := map[string]bool{}
	if st != nil {
		for _, a := range stateAddresses(st.Raw) {
			have[a] = true
		}
	}
	out := *inherited
	out.Addresses = nil
	for _, a := range inherited.Addresses {
		switch {
		case isPattern(a):
			patterns = append(patterns, a)
		case !have[a]:
			out.Addresses = append(out.Addresses, a)
		}
	}
	if len(out.Addresses) == 0 {
		return nil, patterns
	}
	sort.Strings(out.Addresses)
	return &out, patterns
}

// resolvePatterns lists the addresses in creates that match any pattern.
func resolvePatterns(patterns, creates []string) []string {
	var out []string
	for _, p := range patterns {
		m := addressMatcher(p)
		for _, a := range creates {
			if m.MatchString(a) && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// stateAddresses lists the managed resource instance addresses in a state file, in terraform's
// format (module.m.type.name[0], type.name["key"]). Deposed objects (the old half of a
// create-before-destroy replacement) do not count: a replacement killed mid-create is reported.
func stateAddresses(raw []byte) []string {
	var st struct {
		Resources []struct {
			Module, Mode, Type, Name string
			Instances                []struct {
				IndexKey json.RawMessage `json:"index_key"`
				Deposed  string          `json:"deposed"`
			}
		}
	}
	if json.Unmarshal(raw, &st) != nil {
		return nil
	}
	var out []string
	for _, rs := range st.Resources {
		if rs.Mode != "managed" {
			continue
		}
		base := rs.Type + "." + rs.Name
		if rs.Module != "" {
			base = rs.Module + "." + base
		}
		for _, in := range rs.Instances {
			if in.Deposed != "" {
				continue
			}
			if len(in.IndexKey) == 0 || string(in.IndexKey) == "null" {
				out = append(out, base)
			} else {
				out = append(out, base+"["+string(in.IndexKey)+"]")
			}
		}
	}
	return out
}

// reportOrphans tells the workspace's owner (and the log and metrics) what a dead run left: its
// concrete addresses missing from state at once, its patterns once this run knows what it creates
// (resolveOrphans) or, failing that, as they are when the run ends (flushOrphans). The inherited
// journal stays in the lease until this run releases it: events are sent asynchronously, and a
// crash before then must lead to a second report rather than none.
func (r *Runner) reportOrphans(ctx context.Context, rn *run, l *lease, st *StoredState) {
	o, patterns := splitOrphans(l.inherited, st)
	if len(patterns) > 0 {
		rn.orphanPatterns = &SuspectedOrphans{Holder: l.inherited.Holder, RunID: l.inherited.RunID, Addresses: patterns}
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
	if o.Addresses = resolvePatterns(p.Addresses, creates); len(o.Addresses) > 0 {
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

func (r *Runner) tellOrphans(ctx context.Context, rn *run, o *SuspectedOrphans) {
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
