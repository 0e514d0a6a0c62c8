/*
Copyright 2026 The cluster-api-provider-custom Authors.

Licensed under the Apache License, Version 2.0.
*/

package tfjob

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestJobFinished(t *testing.T) {
	cond := func(ty batchv1.JobConditionType, st corev1.ConditionStatus) batchv1.JobCondition {
		return batchv1.JobCondition{Type: ty, Status: st, Reason: "R", Message: "m"}
	}
	for _, tc := range []struct {
		name       string
		conds      []batchv1.JobCondition
		done       bool
		failedWant string
	}{
		{"running", nil, false, ""},
		{"success criteria met: the pod succeeded, its result is written", []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue)}, true, ""},
		{"complete", []batchv1.JobCondition{cond(batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue), cond(batchv1.JobComplete, corev1.ConditionTrue)}, true, ""},
		{"failure target: the pod may still be stopping", []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue)}, false, ""},
		{"failed", []batchv1.JobCondition{cond(batchv1.JobFailureTarget, corev1.ConditionTrue), cond(batchv1.JobFailed, corev1.ConditionTrue)}, true, "R: m"},
		{"a condition that is not true", []batchv1.JobCondition{cond(batchv1.JobComplete, corev1.ConditionFalse)}, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done, failed := jobFinished(&batchv1.Job{Status: batchv1.JobStatus{Conditions: tc.conds}})
			if done != tc.done || failed != tc.failedWant {
				t.Fatalf("jobFinished = %v, %q; want %v, %q", done, failed, tc.done, tc.failedWant)
			}
		})
	}
}
