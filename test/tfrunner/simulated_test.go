/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfrunner_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/zclconf/go-cty/cty"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/company/cluster-api-provider-custom/modules"
	"github.com/company/cluster-api-provider-custom/tfrunner"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

func clusterWorkspace(t *testing.T, ns string, vars map[string]cty.Value) tfrunner.Workspace {
	t.Helper()
	m, err := modules.Get("simulated", "cluster")
	if err != nil {
		t.Fatal(err)
	}
	return tfrunner.Workspace{
		Object:    tfstate.ObjectRef{APIVersion: "infrastructure.cluster.x-k8s.io/v1beta1", Kind: "CustomCluster", Namespace: ns, Name: "c1", ClusterName: "c1"},
		Module:    m,
		Variables: vars,
	}
}

func TestSimulatedClusterLifecycle(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a")
	vars := map[string]cty.Value{
		"cluster_name": cty.StringVal("c1"),
		"namespace":    cty.StringVal(ns),
		"region":       cty.StringVal("eu-west-1"),
	}
	ws := clusterWorkspace(t, ns, vars)
	auto := tfrunner.Policy{AutoApply: true}

	start := time.Now()
	res, err := r.Reconcile(ctx, ws, auto)
	if err != nil {
		t.Fatalf("first apply: %v", err)
	}
	t.Logf("first apply (incl. init): %v, %d processes", time.Since(start), r.Processes())
	if !res.Applied || res.Plan == nil || res.Plan.Add == 0 || res.Plan.Add != len(res.Plan.Resources) || res.Plan.Destructive() {
		t.Fatalf("first apply result: %+v plan %+v", res, res.Plan)
	}
	// From empty state: `init` (once per module, with tfexec's `version` probe) and one `apply`,
	// no separate plan or show.
	if n := r.Processes(); n != 3 {
		t.Fatalf("first apply ran %d terraform processes, want 3 (version, init, apply)", n)
	}
	checkClusterOutputs(t, res.Outputs)

	// Same inputs: no terraform process at all.
	before := r.Processes()
	start = time.Now()
	res2, err := r.Reconcile(ctx, ws, auto)
	if err != nil || !res2.Skipped {
		t.Fatalf("second reconcile: %+v %v", res2, err)
	}
	t.Logf("no-op reconcile (hash skip): %v", time.Since(start))
	if r.Processes() != before {
		t.Fatalf("hash skip started %d terraform processes", r.Processes()-before)
	}
	if string(res2.Outputs["vpc_id"].Value) != string(res.Outputs["vpc_id"].Value) {
		t.Fatalf("skip outputs differ: %s vs %s", res2.Outputs["vpc_id"].Value, res.Outputs["vpc_id"].Value)
	}

	// Forced plan with no changes: one process (plan), nothing applied.
	before = r.Processes()
	start = time.Now()
	res3, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true, Force: true})
	if err != nil || res3.Applied || res3.Plan == nil || res3.Plan.HasChanges() {
		t.Fatalf("forced no-op: %+v %v", res3, err)
	}
	t.Logf("no-op forced plan: %v, %d processes", time.Since(start), r.Processes()-before)

	// Change an input: in-place update, converges.
	vars["tags"] = cty.MapVal(map[string]cty.Value{"team": cty.StringVal("infra")})
	ws.Variables = vars
	before = r.Processes()
	start = time.Now()
	res4, err := r.Reconcile(ctx, ws, auto)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	t.Logf("update apply: %v, %d processes", time.Since(start), r.Processes()-before)
	if !res4.Applied || res4.Plan.Change == 0 || res4.Plan.Add != 0 || res4.Plan.Destructive() {
		t.Fatalf("update plan: %+v", res4.Plan)
	}
	if res4.StateSerial <= res.StateSerial {
		t.Fatalf("serial did not advance: %d -> %d", res.StateSerial, res4.StateSerial)
	}
	if res5, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true, Force: true}); err != nil || res5.Plan.HasChanges() {
		t.Fatalf("not converged after update: %+v %v", res5.Plan, err)
	}

	// Destroy: state and every object gone; a second destroy runs no terraform.
	assertDestroyed(t, r, ws)
}

func TestMachineReplacementNeedsApproval(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	r := newRunner(t, t.TempDir(), "pod-a")
	m, err := modules.Get("simulated", "machine")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]cty.Value{
		"cluster_name":  cty.StringVal("c1"),
		"machine_name":  cty.StringVal("m1"),
		"instance_type": cty.StringVal("t3.large"),
		"image_id":      cty.StringVal("ami-1"),
		"region":        cty.StringVal("eu-west-1"),
		"user_data":     cty.StringVal("#cloud-config secret-token-123"),
		"control_plane": cty.True,
	}
	ws := tfrunner.Workspace{
		Object:    tfstate.ObjectRef{Kind: "CustomMachine", Namespace: ns, Name: "m1", ClusterName: "c1"},
		Module:    m,
		Variables: vars,
		Sensitive: []string{"user_data"},
	}
	res, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
	if err != nil || !res.Applied {
		t.Fatalf("first apply: %+v %v", res, err)
	}
	var pid string
	_ = json.Unmarshal(res.Outputs["provider_id"].Value, &pid)
	if len(pid) < len("custom://eu-west-1/i-") || pid[:len("custom://eu-west-1/i-")] != "custom://eu-west-1/i-" {
		t.Fatalf("provider_id = %q", pid)
	}
	var addrs []struct{ Type, Address string }
	if err := json.Unmarshal(res.Outputs["addresses"].Value, &addrs); err != nil || len(addrs) != 2 || addrs[0].Type != "InternalIP" {
		t.Fatalf("addresses = %s", res.Outputs["addresses"].Value)
	}

	vars["instance_type"] = cty.StringVal("t3.xlarge")
	res, err = r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
	if err != nil {
		t.Fatalf("replace plan: %v", err)
	}
	if res.Applied || !res.PendingApproval || res.Plan.Replace != 1 || res.PlanDigest == "" {
		t.Fatalf("replacement should wait for approval: %+v plan %+v", res, res.Plan)
	}
	t.Logf("replace plan: %+v", *res.Plan)
	ps, err := kube.CoreV1().Secrets(ns).Get(ctx, tfstate.BaseName(ws.Object)+"-plan", metav1.GetOptions{})
	if err != nil || !strings.Contains(string(ps.Data["plan.txt"]), "must be replaced") ||
		strings.Contains(string(ps.Data["plan.txt"]), "secret-token-123") {
		t.Fatalf("plan text secret: %v\n%s", err, ps.Data["plan.txt"])
	}
	// The pending plan is reported again without terraform, so its digest stays approvable.
	before := r.Processes()
	again, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true})
	if err != nil || !again.PendingApproval || again.PlanDigest != res.PlanDigest || r.Processes() != before ||
		again.PlanText == "" || again.PlanText != res.PlanText {
		t.Fatalf("pending plan not reused: %+v %v (%d processes)", again, err, r.Processes()-before)
	}

	// A wrong digest is refused with a fresh plan saved.
	res2, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true, ApproveDigest: "deadbeef"})
	var stale *tfrunner.StalePlanError
	if !errors.As(err, &stale) || res2.Applied || !res2.PendingApproval {
		t.Fatalf("wrong digest: %+v %v", res2, err)
	}
	// Approving the saved plan's digest applies exactly it.
	res3, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true, ApproveDigest: res2.PlanDigest})
	if err != nil || !res3.Applied || res3.Plan.Replace != 1 {
		t.Fatalf("approved apply: %+v %v", res3, err)
	}
	// The approval annotation lingering does not re-plan.
	before = r.Processes()
	res4, err := r.Reconcile(ctx, ws, tfrunner.Policy{AutoApply: true, ApproveDigest: res2.PlanDigest})
	if err != nil || !res4.Skipped || r.Processes() != before {
		t.Fatalf("after approval: %+v %v", res4, err)
	}
	// Nor does it count as a (stale) approval of the next change: that one simply waits.
	vars["image_id"] = cty.StringVal("ami-2")
	res5, err := r.Reconcile(ctx, ws, tfrunner.Policy{ApproveDigest: res2.PlanDigest})
	if err != nil || res5.Applied || !res5.PendingApproval {
		t.Fatalf("next change with the old approval lingering: %+v %v", res5, err)
	}
	if err := r.Destroy(ctx, ws); err != nil {
		t.Fatalf("destroy: %v", err)
	}
}

func checkClusterOutputs(t *testing.T, out map[string]tfrunner.Output) {
	t.Helper()
	var ep struct {
		Host string `json:"host"`
		Port int    `json:"port"`
	}
	if err := json.Unmarshal(out["control_plane_endpoint"].Value, &ep); err != nil || ep.Port != 6443 || ep.Host == "" {
		t.Fatalf("control_plane_endpoint = %s (%v)", out["control_plane_endpoint"].Value, err)
	}
	var fds []struct {
		Name         string            `json:"name"`
		ControlPlane bool              `json:"control_plane"`
		Attributes   map[string]string `json:"attributes"`
	}
	if err := json.Unmarshal(out["failure_domains"].Value, &fds); err != nil || len(fds) != 3 || fds[0].Name != "eu-west-1a" {
		t.Fatalf("failure_domains = %s (%v)", out["failure_domains"].Value, err)
	}

}

func assertDestroyed(t *testing.T, r *tfrunner.Runner, ws tfrunner.Workspace) {
	t.Helper()
	ctx := context.Background()
	ns := ws.Object.Namespace
	if err := r.Destroy(ctx, ws); err != nil {
		t.Fatalf("destroy: %v", err)
	}
	if has, err := r.HasState(ctx, ws.Object); err != nil || has {
		t.Fatalf("HasState after destroy = %v, %v", has, err)
	}
	if s := listSecrets(t, ns); len(s) != 0 {
		t.Fatalf("%d secrets left after destroy", len(s))
	}
	before := r.Processes()
	if err := r.Destroy(ctx, ws); err != nil || r.Processes() != before {
		t.Fatalf("destroy without state: %v, %d processes", err, r.Processes()-before)
	}
}
