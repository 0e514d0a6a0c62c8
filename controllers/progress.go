/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package controllers

import (
	"context"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	infrav1 "github.com/company/cluster-api-provider-custom/api/v1beta1"
	"github.com/company/cluster-api-provider-custom/tfrunner"
)

// defaultProgressInterval is how long a run goes before it shows progress, and how often at most.
const defaultProgressInterval = 10 * time.Second

// progress returns the tfrunner OnProgress hook: a run shorter than the interval costs no API
// request; a longer one gets a Normal event once and status.terraform.progress at most once per
// interval (the reconcile's final patch removes it).
func (b *base) progress(ctx context.Context, in runInput) func(tfrunner.Progress) {
	interval := b.Options.ProgressInterval
	if interval <= 0 {
		interval = defaultProgressInterval
	}
	var last time.Time
	return func(p tfrunner.Progress) {
		now := b.clock()
		if now.Sub(p.StartedAt) < interval || now.Sub(last) < interval {
			return
		}
		if last.IsZero() {
			b.Recorder.Eventf(in.obj, corev1.EventTypeNormal, "RunInProgress", "terraform %s running for %s", p.Operation,
				now.Sub(p.StartedAt).Round(time.Second))
		}
		last = now
		data, err := json.Marshal(map[string]any{"status": map[string]any{"terraform": map[string]any{"progress": runProgress(p)}}})
		if err == nil {
			err = in.patch.writeStatus(ctx, data)
		}
		if err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "Writing run progress failed; the next update retries")
		}
	}
}

// runProgress converts the runner's progress into status.
func runProgress(p tfrunner.Progress) *infrav1.RunProgress {
	cur := p.Current
	if len(cur) > 1024 {
		cur = cur[:1024]
	}
	return &infrav1.RunProgress{Operation: p.Operation, Done: int32(p.Done), Planned: int32(p.Planned), Current: cur,
		StartedAt: metav1.NewTime(p.StartedAt)}
}
