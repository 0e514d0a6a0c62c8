package tfrunner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// The run journal lives in the run's lock Lease: the addresses terraform is creating. A run
// killed before it records a created resource in state leaves them behind with its lease, and the
// run that takes the lease over reports those still missing from state (suspected orphans):
// nothing a crash may have left untracked in the cloud goes unreported.

// SuspectedOrphans is what an interrupted run left: resources it was creating that are not in state.
type SuspectedOrphans struct {
	Holder, RunID string
	Addresses     []string
}

func (o SuspectedOrphans) String() string {
	return fmt.Sprintf("run %s of %s was interrupted while creating %s; not in the state, it may exist "+
		"in the cloud untracked: find it (e.g. by its tags) and import or delete it",
		o.RunID, o.Holder, strings.Join(o.Addresses, ", "))
}

// creatingLine matches terraform's human-readable "<address>: Creating..." progress line.
var creatingLine = regexp.MustCompile(`^(\S.*): Creating\.\.\.$`)

// journal records addresses in the lease; safe against the renew loop (the lease serializes).
func (r *Runner) journal(ctx context.Context, l *lease, addrs ...string) {
	if l == nil || len(addrs) == 0 {
		return
	}
	if err := l.update(ctx, r, func(a map[string]string) bool {
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
	}); err != nil {
		r.cfg.Logger.Error(err, "recording resources being created in the run journal", "object", l.obj.Name)
	}
}

// creatingWriter journals every address terraform starts creating, as its output streams.
func (r *Runner) creatingWriter(ctx context.Context, l *lease) (io.WriteCloser, <-chan struct{}) {
	pr, pw := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			if m := creatingLine.FindStringSubmatch(strings.TrimSpace(sc.Text())); m != nil {
				r.journal(ctx, l, m[1])
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	return pw, done
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

// suspectedOrphans compares what a dead run journaled with the (recovered) state.
func suspectedOrphans(inherited *SuspectedOrphans, st *StoredState) *SuspectedOrphans {
	if inherited == nil || len(inherited.Addresses) == 0 {
		return nil
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
		if !have[a] {
			out.Addresses = append(out.Addresses, a)
		}
	}
	if len(out.Addresses) == 0 {
		return nil
	}
	sort.Strings(out.Addresses)
	return &out
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

// reportOrphans tells the workspace's owner (and the log and metrics) what a dead run left. The
// inherited journal stays in the lease until this run releases it: events are sent asynchronously,
// and a crash before then must lead to a second report rather than none.
func (r *Runner) reportOrphans(ctx context.Context, rn *run, l *lease, st *StoredState) {
	o := suspectedOrphans(l.inherited, st)
	if o == nil {
		return
	}
	r.cfg.Logger.Info("interrupted run left suspected orphans", "object", rn.ws.Object.Name,
		"previousHolder", o.Holder, "previousRun", o.RunID, "addresses", o.Addresses)
	r.cfg.Metrics.SuspectedOrphans.Add(float64(len(o.Addresses)))
	if rn.ws.OnSuspectedOrphans != nil {
		rn.ws.OnSuspectedOrphans(ctx, *o)
	}
}
