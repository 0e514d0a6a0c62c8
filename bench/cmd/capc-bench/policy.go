/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"context"
	"fmt"
	"io/fs"
	"testing/fstest"
	"time"

	"github.com/company/cluster-api-provider-custom/bench"
	"github.com/company/cluster-api-provider-custom/planpolicy"
)

// planModule has 100 resources shaped like instances, for a plan of 100 creates.
const planModule = `resource "terraform_data" "instance" {
  count = 100
  input = {
    name          = "worker-${count.index}"
    instance_type = count.index % 10 == 0 ? "m5.xlarge" : "t3.large"
    image_id      = "ami-0123456789abcdef0"
    public        = false
    tags          = { team = "infra", owner = "platform", index = tostring(count.index) }
  }
}
`

// tenRules is a conftest policy set of ten rules, in two packages, of the kinds teams keep:
// allow-lists, required tags, destructive changes, plan size, versions.
var tenRules = map[string]string{
	"instances.rego": `package main

import rego.v1

allowed := {"t3.medium", "t3.large", "m5.large", "m5.xlarge"}

creates contains rc if {
	some rc in input.resource_changes
	some action in rc.change.actions
	action in {"create", "update"}
}

deny contains msg if {
	some rc in creates
	t := rc.change.after.input.instance_type
	not t in allowed
	msg := sprintf("%s: instance type %s is not allowed", [rc.address, t])
}

deny_public contains msg if {
	some rc in creates
	rc.change.after.input.public == true
	msg := sprintf("%s is public", [rc.address])
}

violation contains {"msg": msg} if {
	some rc in creates
	not startswith(rc.change.after.input.image_id, "ami-")
	msg := sprintf("%s: image %s is not an AMI", [rc.address, rc.change.after.input.image_id])
}

deny_too_many contains msg if {
	count(creates) > 500
	msg := sprintf("%d creates in one plan", [count(creates)])
}

warn_large contains msg if {
	count(input.resource_changes) > 50
	msg := sprintf("%d resource changes", [count(input.resource_changes)])
}
`,
	"hygiene.rego": `package terraform.hygiene

import rego.v1

deny contains msg if {
	some rc in input.resource_changes
	rc.change.after.input.tags
	not rc.change.after.input.tags.owner
	msg := sprintf("%s has no owner tag", [rc.address])
}

warn contains msg if {
	some rc in input.resource_changes
	rc.change.after.input.tags
	not rc.change.after.input.tags.team
	msg := sprintf("%s has no team tag", [rc.address])
}

deny_delete_protected contains msg if {
	some rc in input.resource_changes
	"delete" in rc.change.actions
	rc.change.before.input.tags.protected == "true"
	msg := sprintf("%s is protected", [rc.address])
}

warn_replace contains msg if {
	some rc in input.resource_changes
	"delete" in rc.change.actions
	"create" in rc.change.actions
	msg := sprintf("%s is replaced", [rc.address])
}

deny_version contains msg if {
	not startswith(input.terraform_version, "1.")
	msg := sprintf("terraform %s", [input.terraform_version])
}
`,
}

// p10 measures plan policies: a 100-resource plan made by real terraform, judged by ten rules
// (per plan, once the set is compiled and cached; and the first judgement, compile included),
// and P1's no-op reconcile with the plan policies set (the fast path never reaches them).
func (b *benchmark) p10(ctx context.Context, e *runnerEnv, sim fs.FS) error {
	plan, err := b.planJSON(ctx)
	if err != nil {
		return err
	}
	sets := []planpolicy.Set{{Name: "ten-rules", Files: tenRules}}
	start := time.Now()
	v, err := planpolicy.Evaluate(ctx, sets, plan)
	cold := time.Since(start)
	if err != nil {
		return err
	}
	if len(v.Errors)+len(v.Denials) != 0 || len(v.Warnings) != 1 {
		return fmt.Errorf("p10: unexpected verdict on the benchmark plan: %+v", v)
	}
	var per []time.Duration
	for i := 0; i < 200; i++ {
		start := time.Now()
		if _, err := planpolicy.Evaluate(ctx, sets, plan); err != nil {
			return err
		}
		per = append(per, time.Since(start))
	}
	s := bench.Summarize(per)
	b.add(row{ID: "P10", What: "plan policies: a 100-resource plan from terraform (" + fmt.Sprintf("%.0f KiB", float64(len(plan))/1024) + " of JSON) judged by a 10-rule conftest policy set (2 packages)",
		Ours:     fmt.Sprintf("%s median, %s p90 per plan (n=%d); first plan, compile included: %s", bench.Ms(s.Median), bench.Ms(s.P90), s.N, bench.Ms(cold)),
		Baseline: "—", Ratio: bench.Ms(s.P90), Goal: "≤ 10 ms per plan", Met: s.P90 <= 10*time.Millisecond})

	ws := e.workspace("p1", sim, nil) // P1's object, applied there
	policed := autoApply
	policed.PlanPolicies = sets
	procs, api0 := e.r.Processes(), b.api.Snapshot()
	var noop []time.Duration
	for i := 0; i < b.p1N; i++ {
		start := time.Now()
		res, err := e.r.Reconcile(ctx, ws, policed)
		noop = append(noop, time.Since(start))
		if err != nil || !res.Skipped {
			return fmt.Errorf("p10: a no-op reconcile with plan policies did not skip (skipped=%v): %v", res.Skipped, err)
		}
	}
	requests := 0
	for k, n := range b.api.Snapshot() {
		requests += n - api0[k]
	}
	o := bench.Summarize(noop)
	ratio := float64(b.p1Plan) / float64(o.Mean)
	b.add(row{ID: "P10n", What: "P1 with plan policies set: a no-op reconcile of an object a CustomPolicy's plan policies govern",
		Ours: fmt.Sprintf("%s mean, %s p90 (n=%d; %d terraform processes, %d API requests)", bench.Ms(o.Mean), bench.Ms(o.P90), o.N,
			e.r.Processes()-procs, requests),
		Baseline: fmt.Sprintf("`terraform plan` %s (P1)", bench.Ms(b.p1Plan)), Ratio: fmt.Sprintf("%.0f× cheaper (P1: %s mean)", ratio, bench.Ms(b.p1Mean)),
		Goal: "0 processes, 0 requests, P1 unchanged (≥ 50×)", Met: e.r.Processes() == procs && requests == 0 && ratio >= 50})
	return nil
}

// planJSON is `terraform show -json` of a plan of planModule, made by the benchmark's terraform.
func (b *benchmark) planJSON(ctx context.Context) ([]byte, error) {
	d, err := b.naive.NewDir("p10", fstest.MapFS{"main.tf": {Data: []byte(planModule)}}, nil)
	if err != nil {
		return nil, err
	}
	if _, err := d.Init(ctx); err != nil {
		return nil, err
	}
	if _, err := d.Plan(ctx); err != nil {
		return nil, err
	}
	return d.Output(ctx, "show", "-json", "naive.tfplan")
}
