/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfstate

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
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

// Journal records addresses (or patterns) in the lease before terraform may create them; an error
// means the journal does not hold them and terraform must not start.
func (s *Store) Journal(ctx context.Context, l *Lease, addrs ...string) error {
	if l == nil || len(addrs) == 0 {
		return nil
	}
	err := l.update(ctx, s, func(a map[string]string) bool {
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

// SplitOrphans compares what a dead run journaled with the (recovered) state: the concrete
// addresses missing from state are suspected orphans now; patterns wait to be resolved against
// what the successor creates (instances the configuration wants and the state lacks).
func SplitOrphans(inherited *SuspectedOrphans, st *StoredState) (now *SuspectedOrphans, patterns []string) {
	if inherited == nil || len(inherited.Addresses) == 0 {
		return nil, nil
	}
	have := map[string]bool{}
	if st != nil {
		for _, a := range StateAddresses(st.Raw) {
			have[a] = true
		}
	}
	out := *inherited
	out.Addresses = nil
	for _, a := range inherited.Addresses {
		switch {
		case IsPattern(a):
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

// ResolvePatterns lists the addresses in creates that match any pattern.
func ResolvePatterns(patterns, creates []string) []string {
	var out []string
	for _, p := range patterns {
		m := AddressMatcher(p)
		for _, a := range creates {
			if m.MatchString(a) && !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	sort.Strings(out)
	return out
}

// StateAddresses lists the managed resource instance addresses in a state file, in terraform's
// format (module.m.type.name[0], type.name["key"]). Deposed objects (the old half of a
// create-before-destroy replacement) do not count: a replacement killed mid-create is reported.
func StateAddresses(raw []byte) []string {
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

// AnyKey stands for any instance key (count, for_each) in a journal pattern.
const AnyKey = "[*]"

// indexKey matches one instance key of a resource or module address: a number or a quoted string.
const indexKey = `\[(?:[0-9]+|"(?:[^"\\]|\\.)*")\]`

// AddressMatcher compiles a journal entry (a concrete address or a pattern) into a matcher of
// concrete addresses.
func AddressMatcher(entry string) *regexp.Regexp {
	q := regexp.QuoteMeta(entry)
	q = strings.ReplaceAll(q, regexp.QuoteMeta(AnyKey), indexKey)
	if strings.HasSuffix(entry, ".*") {
		q = strings.TrimSuffix(q, `\.\*`) + `\..+`
	}
	return regexp.MustCompile("^" + q + "$")
}

// IsPattern reports whether a journal entry stands for any number of addresses.
func IsPattern(entry string) bool {
	return strings.Contains(entry, AnyKey) || strings.HasSuffix(entry, ".*")
}
