/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/record"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// A run shorter than the interval writes nothing; a longer one gets one event and a status
// update at most once per interval; the reconcile's final patch removes the progress.
func TestProgressThrottledAndRemoved(t *testing.T) {
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := infrav1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	cm := &infrav1.CustomMachine{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "m"}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(cm).WithStatusSubresource(cm).Build()
	if err := c.Get(ctx, client.ObjectKeyFromObject(cm), cm); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	now := start
	rec := record.NewFakeRecorder(10)
	b := &base{Client: c, Recorder: rec, Options: Options{ProgressInterval: 10 * time.Second}, now: func() time.Time { return now }}
	p := b.newPatcher(cm)
	report := b.progress(ctx, runInput{obj: cm, patch: p})
	stored := func() *infrav1.RunProgress {
		got := &infrav1.CustomMachine{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(cm), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Terraform == nil {
			return nil
		}
		return got.Status.Terraform.Progress
	}
	step := func(after time.Duration, done int) {
		now = start.Add(after)
		report(tfrunner.Progress{Operation: "apply", Done: done, Planned: 5, Current: "terraform_data.x", StartedAt: start})
	}

	step(5*time.Second, 1)
	if stored() != nil || len(rec.Events) != 0 {
		t.Fatal("a run younger than the interval wrote progress or an event")
	}
	step(12*time.Second, 2)
	if got := stored(); got == nil || got.Done != 2 || got.Planned != 5 || got.Current != "terraform_data.x" {
		t.Fatalf("progress after 12 s = %+v", got)
	}
	if len(rec.Events) != 1 {
		t.Fatalf("%d events, want one RunInProgress", len(rec.Events))
	}
	step(15*time.Second, 3)
	if got := stored(); got.Done != 2 {
		t.Errorf("updated 3 s after the last update: done %d", got.Done)
	}
	step(23*time.Second, 4)
	if got := stored(); got.Done != 4 || len(rec.Events) != 1 {
		t.Errorf("after the interval: done %d, %d events", got.Done, len(rec.Events))
	}

	// The run ends: the reconcile's object carries no progress, and its patch removes it.
	cm.Status.Terraform = &infrav1.TerraformStatus{LastRunResult: infrav1.RunSucceeded}
	if err := p.Patch(ctx, cm, &cm.Status.ObservedGeneration); err != nil {
		t.Fatal(err)
	}
	if got := stored(); got != nil {
		t.Errorf("progress left after the run: %+v", got)
	}
}
