/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

func TestDriftDue(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(ago time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(-ago)); return &t }
	tests := []struct {
		name     string
		interval time.Duration
		ts       *infrav1.TerraformStatus
		want     bool
	}{
		{name: "disabled", interval: 0, ts: &infrav1.TerraformStatus{LastRunTime: at(time.Hour)}, want: false},
		{name: "never ran: the first run is a plan anyway", interval: time.Minute, ts: nil, want: false},
		{name: "interval not passed", interval: 10 * time.Minute, ts: &infrav1.TerraformStatus{LastRunTime: at(time.Minute)}, want: false},
		{name: "interval passed since last run", interval: 10 * time.Minute, ts: &infrav1.TerraformStatus{LastRunTime: at(11 * time.Minute)}, want: true},
		{name: "last drift check counts over last run", interval: 10 * time.Minute,
			ts: &infrav1.TerraformStatus{LastRunTime: at(time.Hour), LastDriftCheckTime: at(time.Minute)}, want: false},
		{name: "no drift check while a plan awaits approval", interval: time.Minute,
			ts: &infrav1.TerraformStatus{LastRunTime: at(time.Hour), LastRunResult: infrav1.RunPendingApproval}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &base{Options: Options{DriftCheckInterval: tt.interval}, now: func() time.Time { return now }}
			if got := b.driftDue(tt.ts); got != tt.want {
				t.Errorf("driftDue = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDriftRequeueIsJitteredWithinTenPercent(t *testing.T) {
	b := &base{Options: Options{DriftCheckInterval: time.Minute}}
	for range 100 {
		if d := b.driftRequeue(); d < time.Minute || d > time.Minute+6*time.Second {
			t.Fatalf("driftRequeue = %v, want within [1m, 1m6s]", d)
		}
	}
	if d := (&base{}).driftRequeue(); d != 0 {
		t.Errorf("disabled drift checks requeue after %v", d)
	}
}

func TestRecordRunLeavesStatusAloneWhenNothingNew(t *testing.T) {
	now := time.Now()
	ts := &infrav1.TerraformStatus{LastRunResult: infrav1.RunPendingApproval, Plan: &infrav1.PlanStatus{Digest: "d1"}}
	before := ts.DeepCopy()
	got := recordRun(ts, pendingResult("d1"), "", now)
	if got.LastRunTime != nil || got.Plan.Digest != before.Plan.Digest {
		t.Errorf("the same pending plan rewrote status: %+v", got)
	}
	got = recordRun(ts, pendingResult("d2"), "tok", now)
	if got.Plan.Digest != "d2" || got.Plan.PreviewToken != "tok" || got.LastRunResult != infrav1.RunPendingApproval {
		t.Errorf("a new pending plan was not recorded: %+v", got.Plan)
	}
}

func pendingResult(digest string) tfrunner.Result {
	return tfrunner.Result{PendingApproval: true, PlanDigest: digest, Plan: &tfrunner.PlanSummary{Add: 1}}
}

func TestAnnotationProblem(t *testing.T) {
	for _, tt := range []struct {
		ann  map[string]string
		want bool
	}{
		{nil, false},
		{map[string]string{infrav1.ApprovalAnnotation: "auto"}, false},
		{map[string]string{infrav1.ApprovalAnnotation: "manual"}, false},
		{map[string]string{infrav1.ApprovalAnnotation: "manaul"}, true},
		{map[string]string{infrav1.ApprovalAnnotation: ""}, true},
		{map[string]string{infrav1.AllowDestroyAnnotation: "yes please"}, false}, // anything but "true" is the safe default
	} {
		if got := annotationProblem(tt.ann) != nil; got != tt.want {
			t.Errorf("annotationProblem(%v) = %v, want %v", tt.ann, got, tt.want)
		}
	}
}
