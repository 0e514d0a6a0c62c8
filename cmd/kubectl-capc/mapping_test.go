/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package main

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/planpolicy"
	"github.com/company/cluster-api-provider-custom/tfstate"
)

func TestRedactAttributes(t *testing.T) {
	path := func(steps ...string) json.RawMessage { return json.RawMessage("[" + strings.Join(steps, ",") + "]") }
	attr := func(name string) string { return `{"type":"get_attr","value":"` + name + `"}` }
	index := func(v string, typ string) string {
		return `{"type":"index","value":{"value":` + v + `,"type":"` + typ + `"}}`
	}
	for _, c := range []struct {
		name      string
		attrs     string
		sensitive []json.RawMessage
		want      string
	}{
		{"sensitive path", `{"input":{"value":{"a":"x","b":"y"}}}`, []json.RawMessage{path(attr("input"), attr("value"), attr("a"))},
			`{"input":{"value":{"a":"(sensitive)","b":"y"}}}`},
		{"list index and map key", `{"l":["p","q"],"m":{"k":"v","j":"w"}}`,
			[]json.RawMessage{path(attr("l"), index("1", "number")), path(attr("m"), index(`"k"`, "string"))},
			`{"l":["p","(sensitive)"],"m":{"k":"(sensitive)","j":"w"}}`},
		{"whole attribute", `{"conn":{"host":"h"}}`, []json.RawMessage{path(attr("conn"))}, `{"conn":"(sensitive)"}`},
		{"missing or bad paths are ignored", `{"a":"x"}`,
			[]json.RawMessage{path(attr("nope"), attr("deeper")), path(attr("a"), index("0", "number")), json.RawMessage(`"junk"`)},
			`{"a":"x"}`},
		{"secret-looking names", `{"password":"p","db":{"master_password":"q"},"token_ttl":60,"secret_arn":"arn:x","user_data":"#!","user_data_sha256":"ab","empty_token":""}`, nil,
			`{"password":"(sensitive)","db":{"master_password":"(sensitive)"},"token_ttl":60,"secret_arn":"arn:x","user_data":"(sensitive)","user_data_sha256":"ab","empty_token":""}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			var attrs, want map[string]any
			if err := json.Unmarshal([]byte(c.attrs), &attrs); err != nil {
				t.Fatal(err)
			}
			before, _ := json.Marshal(attrs)
			if err := json.Unmarshal([]byte(c.want), &want); err != nil {
				t.Fatal(err)
			}
			if got := redactAttributes(attrs, c.sensitive); !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			if after, _ := json.Marshal(attrs); string(after) != string(before) {
				t.Errorf("the input was changed: %s", after)
			}
		})
	}
}

func TestAddress(t *testing.T) {
	for _, c := range []struct {
		r    rawResource
		key  string
		want string
	}{
		{rawResource{Mode: "managed", Type: "aws_instance", Name: "this"}, "", "aws_instance.this"},
		{rawResource{Mode: "managed", Type: "aws_instance", Name: "this"}, "2", "aws_instance.this[2]"},
		{rawResource{Mode: "data", Type: "aws_ami", Name: "ubuntu", Module: `module.vpc["a"]`}, `"k"`, `module.vpc["a"].data.aws_ami.ubuntu["k"]`},
	} {
		if got := c.r.address(rawInstance{IndexKey: json.RawMessage(c.key)}); got != c.want {
			t.Errorf("address %+v [%s] = %s, want %s", c.r, c.key, got, c.want)
		}
	}
}

func TestParseKind(t *testing.T) {
	for in, want := range map[string]string{
		"cc": "*v1beta1.CustomCluster", "CustomClusters": "*v1beta1.CustomCluster",
		"custommachine.infrastructure.cluster.x-k8s.io": "*v1beta1.CustomMachine", "cm": "*v1beta1.CustomMachine",
	} {
		obj, err := parseKind(in)
		if err != nil || reflect.TypeOf(obj).String() != want {
			t.Errorf("parseKind(%q) = %T, %v; want %s", in, obj, err, want)
		}
	}
	if _, err := parseKind("machine"); err == nil {
		t.Error("parseKind(machine) accepted a CAPI kind")
	}
}

func TestRow(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) metav1.Time { return metav1.NewTime(now.Add(-ago)) }
	lease := func(renewedAgo time.Duration) *coordinationv1.Lease {
		t := metav1.NewMicroTime(now.Add(-renewedAgo))
		acq := metav1.NewMicroTime(now.Add(-5 * time.Minute))
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{tfstate.AnnRunID: "r1"}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("mgr-a"), LeaseDurationSeconds: ptr.To(int32(40)), AcquireTime: &acq, RenewTime: &t}}
	}
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m"}}
	cm.Status.Terraform = &infrav1.TerraformStatus{LastRunResult: infrav1.RunFailed, LastRunTime: ptr.To(at(time.Minute)),
		Progress: &infrav1.RunProgress{Operation: "apply", Done: 3, Planned: 7, Current: "aws_instance.this", StartedAt: at(5 * time.Minute)}}
	cm.Status.Conditions = []metav1.Condition{
		{Type: infrav1.ReadyCondition, Status: metav1.ConditionFalse, Reason: infrav1.ProvisioningFailedReason, Message: "terraform apply: quota exceeded\ndetails"},
		{Type: infrav1.InSyncCondition, Status: metav1.ConditionFalse, Reason: infrav1.DriftedReason, LastTransitionTime: at(time.Hour)},
	}
	key := "ns/" + tfstate.LockLeaseName(tfstate.ObjectRef{Kind: "CustomMachine", Name: "m"})

	r := row(newTarget(cm), map[string]*coordinationv1.Lease{key: lease(10 * time.Second)}, now)
	if r.Ready != "False" || r.Error != "ProvisioningFailed: terraform apply: quota exceeded" || r.DriftedAt == nil || r.PendingPlan != nil {
		t.Errorf("row: %+v", r)
	}
	if got := running(r.Running, now); got != "apply 3/7 aws_instance.this (mgr-a, 5m)" {
		t.Errorf("running = %q", got)
	}
	if got := lastRun(r, now); got != "Failed 60s ago" {
		t.Errorf("lastRun = %q", got)
	}
	r = row(newTarget(cm), map[string]*coordinationv1.Lease{key: lease(2 * time.Minute)}, now)
	cm.Status.Terraform.Progress = nil
	r.Running.Progress = nil
	if got := running(r.Running, now); got != "mgr-a, 5m, EXPIRED" {
		t.Errorf("running (expired) = %q", got)
	}

	cm.Status.Terraform = &infrav1.TerraformStatus{LastRunResult: infrav1.RunPendingApproval,
		Plan: &infrav1.PlanStatus{Digest: "0123456789abcdef0123", Add: 1, Destroy: 2}}
	cm.Status.Conditions = nil
	r = row(newTarget(cm), nil, now)
	if r.Ready != "Unknown" || dash(r.PendingPlan) != "0123456789ab +1 ~0 -2 ±0" || r.Running != nil || r.Error != "" {
		t.Errorf("pending row: %+v", r)
	}
}

// plan show says a denied plan is not approvable, and lists each finding of the plan policies.
func TestPrintPlanVerdict(t *testing.T) {
	v := planView{Object: "custommachine/m0", Digest: "abc", Text: "plan text", Policy: &planpolicy.Verdict{
		Denials:  []planpolicy.Finding{{Policy: "ConfigMap capc-system/sizes", Rule: "main.deny", Message: "m5.24xlarge is not allowed"}},
		Warnings: []planpolicy.Finding{{Policy: "ConfigMap capc-system/sizes", Rule: "main.warn", Message: "no owner tag"}},
	}}
	var out strings.Builder
	if err := printPlan(&out, v); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"State:   DENIED BY PLAN POLICY", "Plan policies: 1 denial(s), 1 warning(s), 0 error(s)",
		"  DENY  m5.24xlarge is not allowed (ConfigMap capc-system/sizes, main.deny)", "  WARN  no owner tag (ConfigMap capc-system/sizes, main.warn)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}
