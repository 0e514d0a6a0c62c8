/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner

import (
	"fmt"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/company/cluster-api-provider-custom/tfstate"
)

func rc(addr string, actions ...tfjson.Action) *tfjson.ResourceChange {
	return &tfjson.ResourceChange{Address: addr, Change: &tfjson.Change{Actions: actions,
		Before: map[string]any{"secret": "never-in-summary"}}}
}

func tainted(c *tfjson.ResourceChange) *tfjson.ResourceChange {
	c.ActionReason = tfjson.ActionReasonReplaceBecauseTainted
	return c
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name        string
		plan        *tfjson.Plan
		want        string
		changes     bool
		destructive bool
	}{
		{"nil", nil, "0/0/0/0 []", false, false},
		{"no-op and read", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			rc("a", tfjson.ActionNoop), rc("data.b", tfjson.ActionRead)}}, "0/0/0/0 []", false, false},
		{"create", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("a", tfjson.ActionCreate)}},
			"1/0/0/0 [{a create}]", true, false},
		{"update", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("a", tfjson.ActionUpdate)}},
			"0/1/0/0 [{a update}]", true, false},
		{"delete", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("a", tfjson.ActionDelete)}},
			"0/0/1/0 [{a delete}]", true, true},
		{"replace delete-before-create", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			rc("a", tfjson.ActionDelete, tfjson.ActionCreate)}}, "0/0/0/1 [{a replace}]", true, true},
		{"replace create-before-destroy", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			rc("a", tfjson.ActionCreate, tfjson.ActionDelete)}}, "0/0/0/1 [{a replace}]", true, true},
		{"mixed, sorted", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			rc("z", tfjson.ActionCreate), rc("m", tfjson.ActionUpdate), rc("a", tfjson.ActionDelete),
			rc("b", tfjson.ActionDelete, tfjson.ActionCreate), {Address: "nil-change"}}},
			"1/1/1/1 [{a delete} {b replace} {m update} {z create}]", true, true},
		{"replace of a tainted (half-created) resource is not destructive", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			tainted(rc("a", tfjson.ActionDelete, tfjson.ActionCreate))}}, "0/0/0/1 [{a replace}]", true, false},
		{"tainted replace beside a real one stays destructive", &tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{
			tainted(rc("a", tfjson.ActionDelete, tfjson.ActionCreate)), rc("b", tfjson.ActionDelete, tfjson.ActionCreate)}},
			"0/0/0/2 [{a replace} {b replace}]", true, true},
		{"outputs only", &tfjson.Plan{OutputChanges: map[string]*tfjson.Change{
			"o": {Actions: tfjson.Actions{tfjson.ActionUpdate}}, "p": {Actions: tfjson.Actions{tfjson.ActionNoop}}}},
			"0/0/0/0 []", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Summarize(tt.plan)
			got := fmt.Sprintf("%d/%d/%d/%d %v", s.Add, s.Change, s.Destroy, s.Replace, s.Resources)
			if got != tt.want || s.HasChanges() != tt.changes || s.Destructive() != tt.destructive {
				t.Fatalf("got %s changes=%v destructive=%v, want %s %v %v", got, s.HasChanges(), s.Destructive(), tt.want, tt.changes, tt.destructive)
			}
		})
	}
}

// Gone: what the refresh found deleted outside Terraform and the plan creates again; a resource
// deleted outside Terraform that the configuration no longer wants is not gone, nor is a create
// of something that was never there.
func TestSummarizeGone(t *testing.T) {
	p := &tfjson.Plan{
		ResourceDrift: []*tfjson.ResourceChange{rc("vm", tfjson.ActionDelete), rc("old", tfjson.ActionDelete),
			rc("disk", tfjson.ActionDelete), rc("tags", tfjson.ActionUpdate)},
		ResourceChanges: []*tfjson.ResourceChange{rc("vm", tfjson.ActionCreate), rc("disk", tfjson.ActionDelete, tfjson.ActionCreate),
			rc("new", tfjson.ActionCreate), rc("tags", tfjson.ActionCreate)},
	}
	if got := fmt.Sprint(Summarize(p).Gone); got != "[disk vm]" {
		t.Fatalf("gone = %s, want [disk vm]", got)
	}
	if g := Summarize(&tfjson.Plan{ResourceChanges: []*tfjson.ResourceChange{rc("vm", tfjson.ActionCreate)}}).Gone; g != nil {
		t.Fatalf("a first create is not gone: %v", g)
	}
}

// Planned outputs carry known values and their sensitivity; unknown (or null) ones are absent.
func TestPlannedOutputs(t *testing.T) {
	p := &tfjson.Plan{PlannedValues: &tfjson.StateValues{Outputs: map[string]*tfjson.StateOutput{
		"health": {Value: map[string]any{"status": "unhealthy"}},
		"secret": {Value: "s3cr3t", Sensitive: true},
		"later":  {},
	}}}
	got := plannedOutputs(p)
	if len(got) != 2 || string(got["health"].Value) != `{"status":"unhealthy"}` || !got["secret"].Sensitive {
		t.Fatalf("planned outputs: %v", got)
	}
	if plannedOutputs(&tfjson.Plan{}) != nil {
		t.Fatal("a plan without planned values has no planned outputs")
	}
}

func TestStaleReason(t *testing.T) {
	st := &tfstate.StoredState{Serial: 4, Lineage: "L"}
	p := &savedPlan{Digest: "d", InputsHash: "h", Serial: "4", Lineage: "L"}
	tests := []struct {
		name   string
		plan   *savedPlan
		digest string
		hash   string
		state  *tfstate.StoredState
		stale  bool
	}{
		{"matches", p, "d", "h", st, false},
		{"no plan", nil, "d", "h", st, true},
		{"other digest", p, "e", "h", st, true},
		{"inputs changed", p, "d", "h2", st, true},
		{"state moved", p, "d", "h", &tfstate.StoredState{Serial: 5, Lineage: "L"}, true},
		{"state gone", p, "d", "h", nil, true},
	}
	for _, tt := range tests {
		if got := staleReason(tt.plan, tt.digest, tt.hash, "", tt.state); (got != "") != tt.stale {
			t.Errorf("%s: reason %q, want stale=%v", tt.name, got, tt.stale)
		}
	}
}
